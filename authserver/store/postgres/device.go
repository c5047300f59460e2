package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"oauthdemo/authserver/store"
)

// deviceCapLock is the key of the advisory lock that makes the count of
// pending device authorizations and the insert of a new one one step. It
// spells "ImageDev" in ASCII.
const deviceCapLock int64 = 0x496d616765446576

const deviceColumns = `device_code_hash, user_code, client_id, scope, interval_ms, created_at, expires_at, flow_ref,
	coalesce(user_id, ''), approved, auth_time, amr, idp, decided_at, grant_id, consumed_at`

func scanDevice(row pgx.Row) (store.DeviceAuthorization, error) {
	var d store.DeviceAuthorization
	var intervalMS int64
	err := row.Scan(&d.DeviceCodeHash, &d.UserCode, &d.ClientID, &d.Scope, &intervalMS, timeField{&d.CreatedAt},
		timeField{&d.ExpiresAt}, &d.FlowRef, &d.UserID, &d.Approved, timeField{&d.AuthTime}, &d.AMR, &d.IDP, timeField{&d.DecidedAt},
		&d.GrantID, timeField{&d.ConsumedAt})
	d.Interval = time.Duration(intervalMS) * time.Millisecond
	return d, err
}

// CreateDeviceAuthorization stores d if fewer than maxPending are pending:
// one batch that takes the cap's lock, then inserts only if the count,
// read in a snapshot taken after the lock was granted, leaves room (the
// reasoning of lockOwnerQuota in photos.go).
func (s *Store) CreateDeviceAuthorization(ctx context.Context, d store.DeviceAuthorization, maxPending int) error {
	var created bool
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock($1)", deviceCapLock)
	b.Queue(`WITH created AS (
			INSERT INTO device_authorizations (device_code_hash, user_code, client_id, scope, interval_ms, created_at, expires_at, flow_ref)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8
			WHERE (SELECT count(*) FROM device_authorizations WHERE decided_at IS NULL AND expires_at > $6) < $9
			RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM created)`,
		d.DeviceCodeHash, d.UserCode, d.ClientID, d.Scope, d.Interval.Milliseconds(), nanos(d.CreatedAt),
		nanos(d.ExpiresAt), d.FlowRef, maxPending).QueryRow(func(row pgx.Row) error {
		return row.Scan(&created)
	})
	if err := s.execBatch(ctx, b); err != nil {
		return mapErr("postgres: create device authorization", err)
	}
	if !created {
		return fmt.Errorf("postgres: create device authorization: %d pending: %w", maxPending, store.ErrQuotaExceeded)
	}
	return nil
}

// DeviceAuthorizationByUserCode finds a device authorization by the code
// the user typed.
func (s *Store) DeviceAuthorizationByUserCode(ctx context.Context, userCode string) (store.DeviceAuthorization, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx, "SELECT "+deviceColumns+" FROM device_authorizations WHERE user_code = $1", userCode))
	return d, mapErr("postgres: device authorization by user code", err)
}

// DeviceAuthorization finds a device authorization by its device code's
// hash: a device's poll, one round trip.
func (s *Store) DeviceAuthorization(ctx context.Context, deviceCodeHash []byte) (store.DeviceAuthorization, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx, "SELECT "+deviceColumns+" FROM device_authorizations WHERE device_code_hash = $1", deviceCodeHash))
	return d, mapErr("postgres: device authorization", err)
}

// DecideDeviceAuthorization records the user's answer with one conditional
// UPDATE: a second, concurrent one waits for the first's row lock, then
// finds decided_at set and changes nothing.
func (s *Store) DecideDeviceAuthorization(ctx context.Context, userCode string, d store.DeviceDecision, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE device_authorizations SET user_id = $1, approved = $2, auth_time = $3, decided_at = $4,
		amr = $6, idp = $7
		WHERE user_code = $5 AND decided_at IS NULL AND expires_at > $4`,
		d.UserID, d.Approved, nanos(d.AuthTime), nanos(now), userCode, d.AMR, d.IDP)
	return mustAffect("postgres: decide device authorization", tag, err)
}

// ConsumeDeviceAuthorization marks an approved device authorization
// redeemed with one conditional UPDATE, as ConsumeAuthCode does; only when
// it changed nothing does it read the row, to tell a second redemption from
// a code that is not approved.
func (s *Store) ConsumeDeviceAuthorization(ctx context.Context, deviceCodeHash []byte, grantID string, now time.Time) (store.DeviceAuthorization, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx, `UPDATE device_authorizations SET grant_id = $1, consumed_at = $2
		WHERE device_code_hash = $3 AND approved AND consumed_at IS NULL
		RETURNING `+deviceColumns, grantID, nanos(now), deviceCodeHash))
	if !errors.Is(err, pgx.ErrNoRows) {
		return d, mapErr("postgres: consume device authorization", err)
	}
	d, err = s.DeviceAuthorization(ctx, deviceCodeHash)
	switch {
	case err != nil:
		return d, fmt.Errorf("postgres: consume device authorization: %w", err)
	case d.Redeemed():
		return d, fmt.Errorf("postgres: consume device authorization: %w", store.ErrAlreadyUsed)
	}
	return d, fmt.Errorf("postgres: consume device authorization: not approved: %w", store.ErrNotFound)
}
