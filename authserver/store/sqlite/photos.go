package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"oauthdemo/authserver/store"
)

// CreatePhoto stores a new photo, within the owner's quota.
func (s *Store) CreatePhoto(ctx context.Context, p store.Photo, q store.Quota) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// The one write connection and BEGIN IMMEDIATE make the check and
		// the insert one step: no other upload commits in between.
		if err := checkQuota(ctx, tx, p.Owner, q, 1, int64(len(p.Data))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			"INSERT INTO photos (id, owner, title, content_type, data, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			p.ID, p.Owner, p.Title, p.ContentType, p.Data, fmtTime(p.CreatedAt), fmtTime(p.UpdatedAt))
		return err
	})
	return mapErr("sqlite: create photo", err)
}

// checkQuota returns ErrQuotaExceeded unless owner, with photos more
// photos and bytes more bytes, stays within q. Only what grows is checked:
// an owner over a quota lowered since may still shrink a photo.
func checkQuota(ctx context.Context, tx *sql.Tx, owner string, q store.Quota, photos int, bytes int64) error {
	if q == (store.Quota{}) {
		return nil
	}
	var n int
	var total int64
	err := tx.QueryRowContext(ctx, "SELECT count(*), coalesce(sum(length(data)), 0) FROM photos WHERE owner = ?", owner).Scan(&n, &total)
	if err != nil {
		return err
	}
	if (q.Photos > 0 && photos > 0 && n+photos > q.Photos) || (q.Bytes > 0 && bytes > 0 && total+bytes > q.Bytes) {
		return fmt.Errorf("%w: %d photos, %d bytes", store.ErrQuotaExceeded, n, total)
	}
	return nil
}

// listPhotosQuery lists a page of an owner's photos. Photos are ordered
// newest first, then by id, both descending, so that a page can start
// right after the last photo of the previous one: (created_at, id) below
// the cursor's. An empty cursor time starts from the newest.
const listPhotosQuery = `SELECT id, owner, title, content_type, length(data), created_at, updated_at
	FROM photos WHERE owner = ? AND (? = '' OR (created_at, id) < (?, ?))
	ORDER BY created_at DESC, id DESC LIMIT ?`

// ListPhotos lists a page of owner's photos, newest first, without their bytes.
func (s *Store) ListPhotos(ctx context.Context, owner string, after store.PhotoCursor, limit int) ([]store.Photo, error) {
	at := fmtTime(after.CreatedAt)
	rows, err := s.hot.listPhotos.QueryContext(ctx, owner, at, at, after.ID, limit)
	if err != nil {
		return nil, mapErr("sqlite: list photos", err)
	}
	defer rows.Close()
	photos := []store.Photo{}
	for rows.Next() {
		var p store.Photo
		if err := rows.Scan(&p.ID, &p.Owner, &p.Title, &p.ContentType, &p.Size, timeField{&p.CreatedAt}, timeField{&p.UpdatedAt}); err != nil {
			return nil, mapErr("sqlite: list photos", err)
		}
		photos = append(photos, p)
	}
	return photos, mapErr("sqlite: list photos", rows.Err())
}

// PhotoByID returns one of owner's photos without its bytes.
func (s *Store) PhotoByID(ctx context.Context, owner, id string) (store.Photo, error) {
	var p store.Photo
	err := s.read.QueryRowContext(ctx, `SELECT id, owner, title, content_type, length(data), created_at, updated_at
		FROM photos WHERE owner = ? AND id = ?`, owner, id).Scan(
		&p.ID, &p.Owner, &p.Title, &p.ContentType, &p.Size, timeField{&p.CreatedAt}, timeField{&p.UpdatedAt})
	return p, mapErr("sqlite: photo", err)
}

// PhotoData returns the bytes of one of owner's photos, if at most max.
func (s *Store) PhotoData(ctx context.Context, owner, id string, max int) ([]byte, error) {
	var data []byte
	err := s.read.QueryRowContext(ctx, "SELECT data FROM photos WHERE owner = ? AND id = ? AND length(data) <= ?",
		owner, id, max).Scan(&data)
	return data, mapErr("sqlite: photo data", err)
}

// UpdatePhoto replaces the title, type and bytes of one of p.Owner's
// photos, within the owner's quota.
func (s *Store) UpdatePhoto(ctx context.Context, p store.Photo, q store.Quota) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var old int64
		err := tx.QueryRowContext(ctx, "SELECT length(data) FROM photos WHERE owner = ? AND id = ?", p.Owner, p.ID).Scan(&old)
		if err != nil {
			return err
		}
		if err := checkQuota(ctx, tx, p.Owner, q, 0, int64(len(p.Data))-old); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			"UPDATE photos SET title = ?, content_type = ?, data = ?, updated_at = ? WHERE owner = ? AND id = ?",
			p.Title, p.ContentType, p.Data, fmtTime(p.UpdatedAt), p.Owner, p.ID)
		return err
	})
	return mapErr("sqlite: update photo", err)
}

// DeletePhoto deletes one of owner's photos.
func (s *Store) DeletePhoto(ctx context.Context, owner, id string) error {
	res, err := s.write.ExecContext(ctx, "DELETE FROM photos WHERE owner = ? AND id = ?", owner, id)
	return mustAffect("sqlite: delete photo", res, err)
}

// CountPhotos counts owner's photos.
func (s *Store) CountPhotos(ctx context.Context, owner string) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM photos WHERE owner = ?", owner).Scan(&n)
	return n, mapErr("sqlite: count photos", err)
}
