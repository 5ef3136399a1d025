package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/kubestellar/ksplugins/internal/store"
)

var _ store.Artifacts = (*DB)(nil)

// HasArtifact implements store.Artifacts.
func (db *DB) HasArtifact(ctx context.Context, digest string) (bool, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT 1 FROM artifacts WHERE digest = $1`, digest).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up artifact %s: %w", digest, err)
	}
	return true, nil
}

// PutArtifact implements store.Artifacts. The content is read whole
// before anything is written: an artifact is at most the server's
// max_plugin_size, and a bytea is written in one statement.
func (db *DB) PutArtifact(ctx context.Context, digest string, content io.Reader) error {
	var buf bytes.Buffer
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(&buf, h), content); err != nil {
		return fmt.Errorf("put artifact %s: read: %w", digest, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
		return fmt.Errorf("put artifact %s: the content's digest is %s", digest, got)
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO artifacts (digest, size, content, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (digest) DO NOTHING`, digest, buf.Len(), buf.Bytes(), now())
	if err != nil {
		return fmt.Errorf("put artifact %s: %w", digest, err)
	}
	return nil
}

// OpenArtifact implements store.Artifacts.
func (db *DB) OpenArtifact(ctx context.Context, digest string) (io.ReadCloser, error) {
	var content []byte
	err := db.pool.QueryRow(ctx, `SELECT content FROM artifacts WHERE digest = $1`, digest).Scan(&content)
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("open artifact %s: %w", digest, err)
	}
	return io.NopCloser(bytes.NewReader(content)), nil
}
