package sqlite

import (
	"context"
	"database/sql"

	"oauthdemo/authserver/store"
)

// AddActivity appends entries to the activity log in one transaction, which
// also sums them up for the class view (class.go).
func (s *Store) AddActivity(ctx context.Context, entries []store.Activity) error {
	if len(entries) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO activity (user_id, client_id, request_id, flow_ref, event, reason, at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, a := range entries {
			if _, err := stmt.ExecContext(ctx, a.UserID, a.ClientID, a.RequestID, a.FlowRef, a.Event, a.Reason, fmtTime(a.At)); err != nil {
				return err
			}
		}
		return addClassProgress(ctx, tx, entries)
	})
	return mapErr("sqlite: add activity", err)
}

// ActivityForUser returns the user's newest entries, newest first.
func (s *Store) ActivityForUser(ctx context.Context, userID string, limit int) ([]store.Activity, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, user_id, client_id, request_id, flow_ref, event, reason, at
		FROM activity WHERE user_id = ? ORDER BY id DESC LIMIT ?`, userID, limit)
	if err != nil {
		return nil, mapErr("sqlite: activity", err)
	}
	defer rows.Close()
	var out []store.Activity
	for rows.Next() {
		var a store.Activity
		if err := rows.Scan(&a.ID, &a.UserID, &a.ClientID, &a.RequestID, &a.FlowRef, &a.Event, &a.Reason, timeField{&a.At}); err != nil {
			return nil, mapErr("sqlite: activity", err)
		}
		out = append(out, a)
	}
	return out, mapErr("sqlite: activity", rows.Err())
}
