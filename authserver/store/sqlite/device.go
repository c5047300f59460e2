package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"oauthdemo/authserver/store"
)

const deviceColumns = `device_code_hash, user_code, client_id, scope, interval_ms, created_at, expires_at, flow_ref,
	coalesce(user_id, ''), approved, auth_time, amr, idp, decided_at, grant_id, consumed_at`

// deviceByHashQuery is a device's poll: one read by primary key, prepared
// once (hotStatements).
const deviceByHashQuery = "SELECT " + deviceColumns + " FROM device_authorizations WHERE device_code_hash = ?"

func scanDevice(row interface{ Scan(...any) error }) (store.DeviceAuthorization, error) {
	var d store.DeviceAuthorization
	var intervalMS int64
	err := row.Scan(&d.DeviceCodeHash, &d.UserCode, &d.ClientID, &d.Scope, &intervalMS, timeField{&d.CreatedAt},
		timeField{&d.ExpiresAt}, &d.FlowRef, &d.UserID, &d.Approved, timeField{&d.AuthTime}, &d.AMR, &d.IDP, timeField{&d.DecidedAt},
		&d.GrantID, timeField{&d.ConsumedAt})
	d.Interval = time.Duration(intervalMS) * time.Millisecond
	return d, err
}

// CreateDeviceAuthorization stores d if fewer than maxPending are pending.
// One INSERT ... SELECT counts and inserts: SQLite runs it under the one
// write lock, so a burst of requests cannot together overshoot the cap.
func (s *Store) CreateDeviceAuthorization(ctx context.Context, d store.DeviceAuthorization, maxPending int) error {
	res, err := s.write.ExecContext(ctx, `INSERT INTO device_authorizations (device_code_hash, user_code, client_id, scope,
			interval_ms, created_at, expires_at, flow_ref, user_id, approved, auth_time, decided_at, grant_id, consumed_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, '', '', '', ''
		WHERE (SELECT count(*) FROM device_authorizations WHERE decided_at = '' AND expires_at > ?) < ?`,
		d.DeviceCodeHash, d.UserCode, d.ClientID, d.Scope, d.Interval.Milliseconds(), fmtTime(d.CreatedAt),
		fmtTime(d.ExpiresAt), d.FlowRef, fmtTime(d.CreatedAt), maxPending)
	if err != nil {
		return mapErr("sqlite: create device authorization", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return mapErr("sqlite: create device authorization", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: create device authorization: %d pending: %w", maxPending, store.ErrQuotaExceeded)
	}
	return nil
}

// DeviceAuthorizationByUserCode finds a device authorization by the code
// the user typed.
func (s *Store) DeviceAuthorizationByUserCode(ctx context.Context, userCode string) (store.DeviceAuthorization, error) {
	d, err := scanDevice(s.read.QueryRowContext(ctx, "SELECT "+deviceColumns+" FROM device_authorizations WHERE user_code = ?", userCode))
	return d, mapErr("sqlite: device authorization by user code", err)
}

// DeviceAuthorization finds a device authorization by its device code's hash.
func (s *Store) DeviceAuthorization(ctx context.Context, deviceCodeHash []byte) (store.DeviceAuthorization, error) {
	d, err := scanDevice(s.hot.deviceByHash.QueryRowContext(ctx, deviceCodeHash))
	return d, mapErr("sqlite: device authorization", err)
}

// DecideDeviceAuthorization records the user's answer with one conditional
// UPDATE: of two concurrent answers the second finds decided_at set.
func (s *Store) DecideDeviceAuthorization(ctx context.Context, userCode string, d store.DeviceDecision, now time.Time) error {
	res, err := s.write.ExecContext(ctx, `UPDATE device_authorizations SET user_id = ?, approved = ?, auth_time = ?, amr = ?, idp = ?, decided_at = ?
		WHERE user_code = ? AND decided_at = '' AND expires_at > ?`,
		d.UserID, d.Approved, fmtTime(d.AuthTime), d.AMR, d.IDP, fmtTime(now), userCode, fmtTime(now))
	return mustAffect("sqlite: decide device authorization", res, err)
}

// ConsumeDeviceAuthorization marks an approved device authorization
// redeemed with one conditional UPDATE, so that of concurrent redemptions
// exactly one succeeds; then, for the others, it reads the row to tell a
// second redemption from a code that is not approved.
func (s *Store) ConsumeDeviceAuthorization(ctx context.Context, deviceCodeHash []byte, grantID string, now time.Time) (store.DeviceAuthorization, error) {
	d, err := scanDevice(s.write.QueryRowContext(ctx, `UPDATE device_authorizations SET grant_id = ?, consumed_at = ?
		WHERE device_code_hash = ? AND approved AND consumed_at = ''
		RETURNING `+deviceColumns, grantID, fmtTime(now), deviceCodeHash))
	if !errors.Is(err, sql.ErrNoRows) {
		return d, mapErr("sqlite: consume device authorization", err)
	}
	d, err = scanDevice(s.write.QueryRowContext(ctx, deviceByHashQuery, deviceCodeHash))
	switch {
	case err != nil:
		return d, mapErr("sqlite: consume device authorization", err)
	case d.Redeemed():
		return d, fmt.Errorf("sqlite: consume device authorization: %w", store.ErrAlreadyUsed)
	}
	return d, fmt.Errorf("sqlite: consume device authorization: not approved: %w", store.ErrNotFound)
}
