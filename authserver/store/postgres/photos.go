package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"oauthdemo/authserver/store"
)

// CreatePhoto stores a new photo.
func (s *Store) CreatePhoto(ctx context.Context, p store.Photo) error {
	_, err := s.pool.Exec(ctx,
		"INSERT INTO photos (id, owner, title, content_type, data, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		p.ID, p.Owner, p.Title, p.ContentType, p.Data, nanos(p.CreatedAt), nanos(p.UpdatedAt))
	return mapErr("postgres: create photo", err)
}

// ListPhotos lists owner's photos, newest first, without their bytes.
func (s *Store) ListPhotos(ctx context.Context, owner string) ([]store.Photo, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, owner, title, content_type, octet_length(data), created_at, updated_at
		FROM photos WHERE owner = $1 ORDER BY created_at DESC, id`, owner)
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

// PhotoByID returns one of owner's photos with its bytes.
func (s *Store) PhotoByID(ctx context.Context, owner, id string) (store.Photo, error) {
	var p store.Photo
	err := s.pool.QueryRow(ctx, `SELECT id, owner, title, content_type, data, created_at, updated_at
		FROM photos WHERE owner = $1 AND id = $2`, owner, id).Scan(
		&p.ID, &p.Owner, &p.Title, &p.ContentType, &p.Data, timeField{&p.CreatedAt}, timeField{&p.UpdatedAt})
	p.Size = len(p.Data)
	return p, mapErr("postgres: photo", err)
}

// UpdatePhoto replaces the title, type and bytes of one of p.Owner's photos.
func (s *Store) UpdatePhoto(ctx context.Context, p store.Photo) error {
	tag, err := s.pool.Exec(ctx,
		"UPDATE photos SET title = $1, content_type = $2, data = $3, updated_at = $4 WHERE owner = $5 AND id = $6",
		p.Title, p.ContentType, p.Data, nanos(p.UpdatedAt), p.Owner, p.ID)
	return mustAffect("postgres: update photo", tag, err)
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
