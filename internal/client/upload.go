package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
)

// Upload sends a plugin archive (.zip or .tar.gz) from the local disk to
// POST /api/plugins/upload, streaming it as multipart/form-data: the file
// in the field "plugin", checksum and signature (when non-empty) in fields
// of those names. The server installs it and the answer is the plugin's
// record.
func (c *Client) Upload(ctx context.Context, path, checksum, signature string) (*apiv1.Plugin, error) {
	var out apiv1.Plugin
	if err := c.upload(ctx, path, checksum, signature, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// StoreUpload sends a plugin archive like Upload, but the server only
// checks and keeps it: the answer is the upload, to install later with
// apiv1.LoadRequest.UploadID.
func (c *Client) StoreUpload(ctx context.Context, path, checksum, signature string) (*apiv1.Upload, error) {
	var out apiv1.Upload
	if err := c.upload(ctx, path, checksum, signature, url.Values{"install": {"false"}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UploadAsync sends a plugin archive like Upload and has the server install
// it in the background: it returns the install's operation once the
// archive is received and checked; follow it with WaitOperation.
func (c *Client) UploadAsync(ctx context.Context, path, checksum, signature string) (*apiv1.Operation, error) {
	var op apiv1.Operation
	if err := c.upload(ctx, path, checksum, signature, url.Values{"async": {"true"}}, &op); err != nil {
		return nil, err
	}
	return &op, nil
}

// upload streams the archive at path through a pipe: the file is never
// held in memory whole.
func (c *Client) upload(ctx context.Context, path, checksum, signature string, query url.Values, out any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("%s: not a regular file: upload a .zip or .tar.gz archive", path)
	}

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	contentType := mw.FormDataContentType()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer f.Close()
		pw.CloseWithError(writeForm(mw, f, filepath.Base(path), checksum, signature))
	}()
	// Whatever happens to the request, stop the writer and wait for it, so
	// that the file is closed when upload returns.
	defer func() {
		pr.CloseWithError(errors.New("upload ended"))
		<-done
	}()

	req, err := c.newRequest(ctx, http.MethodPost, "/api/plugins/upload", query, pr, contentType)
	if err != nil {
		return err
	}
	return c.send(req, out)
}

// writeForm writes the multipart form: the small fields first, then the
// archive.
func writeForm(mw *multipart.Writer, archive io.Reader, name, checksum, signature string) error {
	for _, field := range [...][2]string{{"checksum", checksum}, {"signature", signature}} {
		if field[1] == "" {
			continue
		}
		if err := mw.WriteField(field[0], field[1]); err != nil {
			return err
		}
	}
	part, err := mw.CreateFormFile("plugin", name)
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, archive); err != nil {
		return err
	}
	return mw.Close()
}
