package client

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
)

// maxEventLine bounds one line of the event stream.
const maxEventLine = 4 << 20

// Events lists the recent events after the event id since. Use
// StreamEvents to follow them live.
func (c *Client) Events(ctx context.Context, since uint64) (*apiv1.EventList, error) {
	q := url.Values{"since": {strconv.FormatUint(since, 10)}}
	return call[apiv1.EventList](ctx, c, http.MethodGet, "/api/plugins/events", q, nil)
}

// StreamEvents follows the live event stream (Server-Sent Events) and
// calls onLine with each line as sent ("id: 7", "event: plugin.loaded",
// "data: {...}", "" between events, ": ping" heartbeats). It returns when
// ctx ends (with ctx's error), when onLine returns an error (that error),
// or when the server ends the stream (io.ErrUnexpectedEOF).
func (c *Client) StreamEvents(ctx context.Context, onLine func(line string) error) error {
	req, err := c.newRequest(ctx, http.MethodGet, "/api/plugins/events", nil, nil, "")
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	for sc.Scan() {
		if err := onLine(sc.Text()); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}
