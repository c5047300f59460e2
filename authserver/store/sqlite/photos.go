package sqlite

import (
	"context"

	"oauthdemo/authserver/store"
)

// CreatePhoto stores a new photo.
func (s *Store) CreatePhoto(ctx context.Context, p store.Photo) error {
	_, err := s.write.ExecContext(ctx,
		"INSERT INTO photos (id, owner, title, content_type, data, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		p.ID, p.Owner, p.Title, p.ContentType, p.Data, fmtTime(p.CreatedAt), fmtTime(p.UpdatedAt))
	return mapErr("sqlite: create photo", err)
}

const listPhotosQuery = `SELECT id, owner, title, content_type, length(data), created_at, updated_at
	FROM photos WHERE owner = ? ORDER BY created_at DESC, id`

// ListPhotos lists owner's photos, newest first, without their bytes.
func (s *Store) ListPhotos(ctx context.Context, owner string) ([]store.Photo, error) {
	rows, err := s.hot.listPhotos.QueryContext(ctx, owner)
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

// PhotoByID returns one of owner's photos with its bytes.
func (s *Store) PhotoByID(ctx context.Context, owner, id string) (store.Photo, error) {
	var p store.Photo
	err := s.read.QueryRowContext(ctx, `SELECT id, owner, title, content_type, data, created_at, updated_at
		FROM photos WHERE owner = ? AND id = ?`, owner, id).Scan(
		&p.ID, &p.Owner, &p.Title, &p.ContentType, &p.Data, timeField{&p.CreatedAt}, timeField{&p.UpdatedAt})
	p.Size = len(p.Data)
	return p, mapErr("sqlite: photo", err)
}

// UpdatePhoto replaces the title, type and bytes of one of p.Owner's photos.
func (s *Store) UpdatePhoto(ctx context.Context, p store.Photo) error {
	res, err := s.write.ExecContext(ctx,
		"UPDATE photos SET title = ?, content_type = ?, data = ?, updated_at = ? WHERE owner = ? AND id = ?",
		p.Title, p.ContentType, p.Data, fmtTime(p.UpdatedAt), p.Owner, p.ID)
	return mustAffect("sqlite: update photo", res, err)
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
