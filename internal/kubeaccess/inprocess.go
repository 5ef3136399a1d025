package kubeaccess

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// errAborted is what a plugin reads from a body whose handler aborted the
// answer part-way, as a server's connection would end.
var errAborted = errors.New("the host aborted the answer")

// InProcess returns a RoundTripper that serves each request with h in the
// calling process, for a native plugin, whose code runs in the host's: no
// socket, no listener another process could reach. The answer is streamed:
// RoundTrip returns once h has written the status, and the body delivers
// each write as h makes it, so a watch's events arrive as they happen.
// Closing the body, or cancelling the request's context, cancels the
// handler's request.
func InProcess(h http.Handler) http.RoundTripper { return inProcess{h: h} }

type inProcess struct{ h http.Handler }

// asServer marks a request's context as served by an http.Server:
// httputil.ReverseProxy then aborts a stream it cannot finish with
// http.ErrAbortHandler, which RoundTrip turns into a body error, instead
// of logging that it suppressed the panic.
var asServer = &http.Server{}

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(context.WithValue(req.Context(), http.ServerContextKey, asServer))
	in := req.Clone(ctx)
	if in.Body == nil {
		in.Body = http.NoBody
	}
	in.RequestURI = req.URL.RequestURI()
	pr, pw := io.Pipe()
	w := &pipeWriter{
		req: req, header: make(http.Header), pw: pw,
		body: &pipeBody{PipeReader: pr, cancel: cancel},
		head: make(chan headResult, 1),
	}
	go w.serve(t.h, in)
	select {
	case r := <-w.head:
		if r.err != nil {
			cancel()
			return nil, r.err
		}
		return r.resp, nil
	case <-req.Context().Done():
		// The handler sees the same cancellation and ends; its answer,
		// if any, is dropped with the pipe.
		cancel()
		_ = pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
}

type headResult struct {
	resp *http.Response
	err  error
}

// pipeWriter is the ResponseWriter of an in-process request: the status
// and header become the Response, the body goes through a pipe. Only the
// handler's goroutine calls it.
type pipeWriter struct {
	req    *http.Request
	header http.Header
	pw     *io.PipeWriter
	body   *pipeBody
	head   chan headResult // buffered: the first answer never blocks
	wrote  bool
}

func (w *pipeWriter) serve(h http.Handler, r *http.Request) {
	defer func() {
		p := recover()
		switch {
		case p == nil:
			w.WriteHeader(http.StatusOK) // a handler that wrote nothing answered 200
			_ = w.pw.Close()
		case !w.wrote:
			w.head <- headResult{err: fmt.Errorf("%s %s: %w", r.Method, r.URL.Path, abortError(p))}
			_ = w.pw.CloseWithError(errAborted)
		default:
			_ = w.pw.CloseWithError(abortError(p))
		}
	}()
	h.ServeHTTP(w, r)
}

// abortError is the error a plugin reads for a handler that panicked: the
// proxy's deliberate abort (http.ErrAbortHandler), or any other panic,
// which must not take the host down from a goroutine nobody recovers.
func abortError(p any) error {
	if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
		return errAborted
	}
	return fmt.Errorf("%w: %v", errAborted, p)
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(code int) {
	if w.wrote || code < 200 { // informational answers are not passed on
		return
	}
	w.wrote = true
	length := int64(-1)
	if n, err := strconv.ParseInt(w.header.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		length = n
	}
	var body io.ReadCloser = w.body
	if w.req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified {
		body = http.NoBody
		w.body.Close() // unblocks and cancels a handler that writes anyway
	}
	w.head <- headResult{resp: &http.Response{
		Status: fmt.Sprintf("%d %s", code, http.StatusText(code)), StatusCode: code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header.Clone(), Body: body, ContentLength: length, Request: w.req,
	}}
}

func (w *pipeWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(b)
}

// FlushError does nothing: the pipe hands each write to the reader as it
// is made. httputil.ReverseProxy flushes through it.
func (w *pipeWriter) FlushError() error { return nil }

// pipeBody is the Response's body; closing it ends the handler's request.
type pipeBody struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (b *pipeBody) Close() error {
	b.cancel()
	return b.PipeReader.Close()
}
