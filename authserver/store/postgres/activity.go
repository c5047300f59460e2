package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"oauthdemo/authserver/store"
)

// AddActivity appends entries to the activity log in one batch: one round
// trip, one implicit transaction, which also sums them up for the class
// view (class.go).
func (s *Store) AddActivity(ctx context.Context, entries []store.Activity) error {
	if len(entries) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, a := range entries {
		b.Queue(`INSERT INTO activity (user_id, client_id, request_id, flow_ref, event, reason, at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, a.UserID, a.ClientID, a.RequestID, a.FlowRef, a.Event, a.Reason, nanos(a.At))
	}
	queueClassProgress(b, entries)
	return mapErr("postgres: add activity", s.execBatch(ctx, b))
}

// ActivityForUser returns the user's newest entries, newest first.
func (s *Store) ActivityForUser(ctx context.Context, userID string, limit int) ([]store.Activity, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, user_id, client_id, request_id, flow_ref, event, reason, at
		FROM activity WHERE user_id = $1 ORDER BY id DESC LIMIT $2`, userID, limit)
	if err != nil {
		return nil, mapErr("postgres: activity", err)
	}
	entries, err := collect(rows, func(row pgx.Row) (store.Activity, error) {
		var a store.Activity
		err := row.Scan(&a.ID, &a.UserID, &a.ClientID, &a.RequestID, &a.FlowRef, &a.Event, &a.Reason, timeField{&a.At})
		return a, err
	})
	return entries, mapErr("postgres: activity", err)
}
