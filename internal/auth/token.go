// Package auth decides who is calling and what they may do: the admin
// token, named tokens with roles (stored hashed, revocable, expiring), JSON
// Web Tokens from an identity provider, and the three roles.
package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is the admin token's file name in the data directory.
const TokenFile = "admin.token"

// AdminToken returns the admin token: given when non-empty, else the one
// stored in dataDir, else a new one, which it stores with mode 0600.
// created reports that a new token was made, so the caller can show it once.
func AdminToken(dataDir, given string) (token string, created bool, err error) {
	if given != "" {
		return given, false, nil
	}
	path := filepath.Join(dataDir, TokenFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if t := strings.TrimSpace(string(data)); t != "" {
			return t, false, nil
		}
		return "", false, fmt.Errorf("admin token file %s is empty: delete it to get a new token", path)
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("read admin token: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", false, fmt.Errorf("create data directory: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", false, err
	}
	token = "ksp_" + base64.RawURLEncoding.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("store admin token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", false, fmt.Errorf("store admin token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", false, fmt.Errorf("store admin token: %w", err)
	}
	return token, true, nil
}
