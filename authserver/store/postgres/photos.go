package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"oauthdemo/authserver/store"
)

// photoQuotaLock is the first half of the advisory lock a quota check
// holds; the second half is a hash of the owner. PostgreSQL keeps locks on
// two 32-bit keys apart from locks on one 64-bit key, such as
// migrationLock. This one spells "Phot" in ASCII.
const photoQuotaLock int32 = 0x50686f74

// lockOwnerQuota queues, at the head of a batch, the lock that makes an
// owner's quota check and write one step.
//
// At READ COMMITTED two uploads that count an owner's photos at the same
// moment both see the count before either inserts, and both pass: a burst
// of uploads would overshoot the quota. So each write that can grow an
// owner's photos first takes a transaction-scoped advisory lock keyed by
// the owner, and only its next statement counts: in READ COMMITTED every
// statement reads a fresh snapshot, taken after the lock was granted, and
// so sees what the previous holder committed. Counting in the same
// statement as the lock would not do: its snapshot is taken before the lock
// is granted. The batch's implicit transaction releases the lock at its
// end, so the lock is held for no network round trip.
//
// Owners whose names hash alike share a lock, which only makes them wait
// for each other. Writes that shrink an owner's photos (DeletePhoto,
// DeleteUser) take no lock: a check that counts a photo about to go is
// stricter, never looser.
func lockOwnerQuota(b *pgx.Batch, owner string) {
	b.Queue("SELECT pg_advisory_xact_lock($1, hashtext($2))", photoQuotaLock, owner)
}

// quotaExceeded is the error of a refused write, with the owner's usage.
func quotaExceeded(photos, bytes int64) error {
	return fmt.Errorf("%w: %d photos, %d bytes", store.ErrQuotaExceeded, photos, bytes)
}

// CreatePhoto stores a new photo, within the owner's quota: one batch that
// takes the owner's lock (lockOwnerQuota), then inserts only if the owner's
// usage leaves room, and returns that usage.
func (s *Store) CreatePhoto(ctx context.Context, p store.Photo, q store.Quota) error {
	if q == (store.Quota{}) {
		_, err := s.pool.Exec(ctx,
			"INSERT INTO photos (id, owner, title, content_type, data, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
			p.ID, p.Owner, p.Title, p.ContentType, p.Data, nanos(p.CreatedAt), nanos(p.UpdatedAt))
		return mapErr("postgres: create photo", err)
	}
	var photos, bytes int64
	var created bool
	b := &pgx.Batch{}
	lockOwnerQuota(b, p.Owner)
	// A zero bound is no bound; only what grows is checked, so an empty
	// photo passes a bytes quota lowered below the owner's usage.
	b.Queue(`WITH usage AS (
			SELECT count(*) AS photos, coalesce(sum(octet_length(data)), 0) AS bytes FROM photos WHERE owner = $2
		), created AS (
			INSERT INTO photos (id, owner, title, content_type, data, created_at, updated_at)
			SELECT $1, $2, $3, $4, $5::bytea, $6::bigint, $7::bigint FROM usage
			WHERE ($8::bigint = 0 OR usage.photos + 1 <= $8)
			AND ($9::bigint = 0 OR $10::bigint = 0 OR usage.bytes + $10 <= $9)
			RETURNING 1
		)
		SELECT photos, bytes, EXISTS (SELECT 1 FROM created) FROM usage`,
		p.ID, p.Owner, p.Title, p.ContentType, p.Data, nanos(p.CreatedAt), nanos(p.UpdatedAt),
		q.Photos, q.Bytes, len(p.Data)).QueryRow(func(row pgx.Row) error {
		return row.Scan(&photos, &bytes, &created)
	})
	if err := s.execBatch(ctx, b); err != nil {
		return mapErr("postgres: create photo", err)
	}
	if !created {
		return fmt.Errorf("postgres: create photo: %w", quotaExceeded(photos, bytes))
	}
	return nil
}

// listPhotosColumns are a listing's columns: a photo without its bytes.
const listPhotosColumns = "id, owner, title, content_type, octet_length(data), created_at, updated_at"

// ListPhotos lists a page of owner's photos, without their bytes. Photos are
// ordered newest first, then by id, both descending, so that a page can
// start right after the last photo of the previous one: (created_at, id)
// below the cursor's. The first page has a query of its own, so that each
// statement's plan fits it.
func (s *Store) ListPhotos(ctx context.Context, owner string, after store.PhotoCursor, limit int) ([]store.Photo, error) {
	var rows pgx.Rows
	var err error
	if after.CreatedAt.IsZero() {
		rows, err = s.pool.Query(ctx, "SELECT "+listPhotosColumns+` FROM photos WHERE owner = $1
			ORDER BY created_at DESC, id DESC LIMIT $2`, owner, limit)
	} else {
		rows, err = s.pool.Query(ctx, "SELECT "+listPhotosColumns+` FROM photos WHERE owner = $1 AND (created_at, id) < ($2, $3)
			ORDER BY created_at DESC, id DESC LIMIT $4`, owner, nanos(after.CreatedAt), after.ID, limit)
	}
	if err != nil {
		return nil, mapErr("postgres: list photos", err)
	}
	photos, err := collect(rows, func(row pgx.Row) (store.Photo, error) {
		var p store.Photo
		err := row.Scan(&p.ID, &p.Owner, &p.Title, &p.ContentType, &p.Size, timeField{&p.CreatedAt}, timeField{&p.UpdatedAt})
		return p, err
	})
	return photos, mapErr("postgres: list photos", err)
}

// PhotoByID returns one of owner's photos without its bytes.
func (s *Store) PhotoByID(ctx context.Context, owner, id string) (store.Photo, error) {
	var p store.Photo
	err := s.pool.QueryRow(ctx, "SELECT "+listPhotosColumns+" FROM photos WHERE owner = $1 AND id = $2", owner, id).Scan(
		&p.ID, &p.Owner, &p.Title, &p.ContentType, &p.Size, timeField{&p.CreatedAt}, timeField{&p.UpdatedAt})
	return p, mapErr("postgres: photo", err)
}

// PhotoData returns the bytes of one of owner's photos, if at most max.
func (s *Store) PhotoData(ctx context.Context, owner, id string, max int) ([]byte, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, "SELECT data FROM photos WHERE owner = $1 AND id = $2 AND octet_length(data) <= $3",
		owner, id, max).Scan(&data)
	return data, mapErr("postgres: photo data", err)
}

// UpdatePhoto replaces the title, type and bytes of one of p.Owner's
// photos, within the owner's quota, as CreatePhoto does: the owner's lock,
// then an UPDATE only if the new bytes in place of the old leave room. A
// photo may always shrink, even over a quota lowered since.
func (s *Store) UpdatePhoto(ctx context.Context, p store.Photo, q store.Quota) error {
	if q.Bytes == 0 { // the number of photos does not change
		tag, err := s.pool.Exec(ctx,
			"UPDATE photos SET title = $1, content_type = $2, data = $3, updated_at = $4 WHERE owner = $5 AND id = $6",
			p.Title, p.ContentType, p.Data, nanos(p.UpdatedAt), p.Owner, p.ID)
		return mustAffect("postgres: update photo", tag, err)
	}
	var oldSize *int64 // nil: no such photo of the owner's
	var photos, bytes int64
	var updated bool
	b := &pgx.Batch{}
	lockOwnerQuota(b, p.Owner)
	b.Queue(`WITH old AS (
			SELECT octet_length(data) AS size FROM photos WHERE owner = $5 AND id = $6
		), usage AS (
			SELECT count(*) AS photos, coalesce(sum(octet_length(data)), 0) AS bytes FROM photos WHERE owner = $5
		), updated AS (
			UPDATE photos SET title = $1, content_type = $2, data = $3, updated_at = $4
			FROM old, usage
			WHERE photos.owner = $5 AND photos.id = $6
			AND ($8::bigint <= old.size OR usage.bytes - old.size + $8 <= $7::bigint)
			RETURNING 1
		)
		SELECT (SELECT size FROM old), photos, bytes, EXISTS (SELECT 1 FROM updated) FROM usage`,
		p.Title, p.ContentType, p.Data, nanos(p.UpdatedAt), p.Owner, p.ID, q.Bytes, len(p.Data)).QueryRow(func(row pgx.Row) error {
		return row.Scan(&oldSize, &photos, &bytes, &updated)
	})
	if err := s.execBatch(ctx, b); err != nil {
		return mapErr("postgres: update photo", err)
	}
	switch {
	case updated:
		return nil
	case oldSize == nil:
		return fmt.Errorf("postgres: update photo: %w", store.ErrNotFound)
	}
	// The photo was there but not updated: over the quota, or deleted by a
	// DELETE that committed while this UPDATE waited for its row. For a
	// photo deleted at that very moment, either answer is right.
	return fmt.Errorf("postgres: update photo: %w", quotaExceeded(photos, bytes))
}

// DeletePhoto deletes one of owner's photos.
func (s *Store) DeletePhoto(ctx context.Context, owner, id string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM photos WHERE owner = $1 AND id = $2", owner, id)
	return mustAffect("postgres: delete photo", tag, err)
}

// CountPhotos counts owner's photos.
func (s *Store) CountPhotos(ctx context.Context, owner string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM photos WHERE owner = $1", owner).Scan(&n)
	return n, mapErr("postgres: count photos", err)
}
