package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/policy"
)

// DefaultPath is a catalog's file in its repository when none is set.
const DefaultPath = "catalog.yaml"

// readTimeout bounds reading one catalog, so that a server that does not
// answer holds up neither the others nor a refresh an admin asked for.
const readTimeout = 2 * time.Minute

// Service keeps the configured catalogs read and verified. It is safe for
// concurrent use.
type Service struct {
	system func() config.System
	log    *slog.Logger
	kick   chan struct{}

	// refreshing serialises refreshes: the scheduled one and those asked.
	refreshing sync.Mutex

	mu   sync.RWMutex
	read map[string]*state // by catalog name
}

// state is one catalog as last read.
type state struct {
	conf apiv1.CatalogConfig
	at   time.Time
	file *File
	err  string
}

// NewService returns a Service reading the catalogs system names.
func NewService(system func() config.System, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{system: system, log: log, kick: make(chan struct{}, 1), read: map[string]*state{}}
}

// Run refreshes every catalog now, every interval, and when Kick is
// called, until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// Kick asks Run for a refresh soon, as after the catalogs configured
// changed; it never blocks.
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Refresh reads every configured catalog again and returns their
// statuses. A catalog that fails to verify is refused whole: it lists
// nothing until it verifies. One that cannot be read keeps what it last
// listed, with the error shown.
func (s *Service) Refresh(ctx context.Context) []apiv1.CatalogStatus {
	s.refreshing.Lock()
	defer s.refreshing.Unlock()
	sys := s.system()
	f := Fetch{BaseURL: sys.RepositoryBaseURL, Token: sys.RepositoryToken, MaxBytes: sys.MaxPluginSize}
	next := map[string]*state{}
	for _, c := range sys.Catalogs {
		st := &state{conf: c, at: time.Now().UTC()}
		rctx, cancel := context.WithTimeout(ctx, readTimeout)
		file, err := readCatalog(rctx, f, c)
		cancel()
		var refused *SignatureError
		var invalid *Error
		switch {
		case err == nil:
			st.file = file
		case errors.As(err, &refused) || errors.As(err, &invalid):
			st.err = err.Error()
			s.log.Warn("catalog refused", "catalog", c.Name, "err", err)
		default:
			st.err = err.Error()
			if prev := s.current(c); prev != nil {
				st.file = prev.file
			}
			s.log.Warn("catalog not read", "catalog", c.Name, "err", err)
		}
		next[c.Name] = st
	}
	s.mu.Lock()
	s.read = next
	s.mu.Unlock()
	return s.Statuses()
}

// current is what was last read of c, if it is still configured alike.
func (s *Service) current(c apiv1.CatalogConfig) *state {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.read[c.Name]
	if st == nil || st.conf.Location != c.Location || !slices.Equal(st.conf.Keys, c.Keys) {
		return nil
	}
	return st
}

// readCatalog fetches a catalog's file and signature and verifies them.
func readCatalog(ctx context.Context, f Fetch, c apiv1.CatalogConfig) (*File, error) {
	keys, err := ParseKeys(c.Keys)
	if err != nil {
		return nil, &SignatureError{Reason: err.Error()}
	}
	var data, sig []byte
	if config.CatalogIsFile(c.Location) {
		var body, sigBody bytes.Buffer
		if _, err := f.Get(ctx, c.Location, &body); err != nil {
			return nil, fmt.Errorf("read catalog %s: %w", c.Name, err)
		}
		if _, err := f.Get(ctx, c.Location+SigSuffix, &sigBody); err != nil {
			return nil, &SignatureError{Reason: "no signature: " + err.Error()}
		}
		data, sig = body.Bytes(), sigBody.Bytes()
	} else {
		dir, _, err := f.repository(ctx, c.Location, c.Ref)
		if err != nil {
			return nil, fmt.Errorf("read catalog %s: %w", c.Name, err)
		}
		defer os.RemoveAll(filepath.Dir(dir))
		name := c.Path
		if name == "" {
			name = DefaultPath
		}
		file := filepath.Join(dir, filepath.FromSlash(path.Clean("/"+name)))
		if data, err = os.ReadFile(file); err != nil {
			return nil, fmt.Errorf("read catalog %s: %s: %w", c.Name, name, err)
		}
		if sig, err = os.ReadFile(file + SigSuffix); err != nil {
			return nil, &SignatureError{Reason: fmt.Sprintf("no %s%s beside the catalog", name, SigSuffix)}
		}
	}
	return Verify(data, sig, keys)
}

// Statuses are the configured catalogs and how their last read went, in
// the configuration's order.
func (s *Service) Statuses() []apiv1.CatalogStatus {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []apiv1.CatalogStatus{}
	for _, c := range s.system().Catalogs {
		cs := apiv1.CatalogStatus{Name: c.Name, Location: c.Location, Ref: c.Ref}
		if st := s.read[c.Name]; st != nil && st.conf.Location == c.Location {
			at := st.at
			cs.RefreshedAt, cs.Error = &at, st.err
			if st.file != nil {
				cs.Entries = len(st.file.Entries)
			}
		}
		out = append(out, cs)
	}
	return out
}

// Listed is an entry with what installing it needs: its catalog's keys.
type Listed struct {
	Entry apiv1.CatalogEntry
	// Keys are the keys of the catalog that lists it, as configured.
	Keys []string
}

// entries are every entry of every catalog read, an id listed by two
// catalogs taken from the first configured.
func (s *Service) entries() []Listed {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Listed
	seen := map[string]bool{}
	for _, c := range s.system().Catalogs {
		st := s.read[c.Name]
		if st == nil || st.file == nil {
			continue
		}
		keys := slices.Clone(st.conf.Keys)
		for _, e := range st.file.Entries {
			if seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			out = append(out, Listed{Entry: toWire(c.Name, e), Keys: keys})
		}
	}
	return out
}

// Query selects entries for a page.
type Query struct {
	// Q matches words in the id, name, summary, publisher and categories.
	Q string
	// Category and Tier, when set, keep the entries that have them.
	Category string
	Tier     apiv1.Tier
	// Page counts from 1; PerPage defaults to 20.
	Page, PerPage int
}

// List answers a query over every entry, marked against the installed
// plugins.
func (s *Service) List(q Query, installed []apiv1.Plugin) apiv1.CatalogList {
	all := s.entries()
	out := apiv1.CatalogList{Entries: []apiv1.CatalogEntry{}, Categories: []string{}, Page: max(q.Page, 1), PerPage: q.PerPage, Catalogs: s.Statuses()}
	if out.PerPage <= 0 {
		out.PerPage = 20
	}
	cats := map[string]bool{}
	var match []apiv1.CatalogEntry
	for _, l := range all {
		for _, c := range l.Entry.Categories {
			cats[c] = true
		}
		if matches(l.Entry, q) {
			match = append(match, mark(l.Entry, installed))
		}
	}
	for c := range cats {
		out.Categories = append(out.Categories, c)
	}
	sort.Strings(out.Categories)
	sort.SliceStable(match, func(i, j int) bool {
		return strings.ToLower(match[i].Name) < strings.ToLower(match[j].Name)
	})
	out.Total = len(match)
	if from := (out.Page - 1) * out.PerPage; from < len(match) {
		for _, e := range match[from:min(from+out.PerPage, len(match))] {
			e.Description = ""
			out.Entries = append(out.Entries, e)
		}
	}
	return out
}

// Get returns the entry with id, marked against the installed plugins.
func (s *Service) Get(id string, installed []apiv1.Plugin) (Listed, error) {
	for _, l := range s.entries() {
		if l.Entry.ID == id {
			l.Entry = mark(l.Entry, installed)
			return l, nil
		}
	}
	return Listed{}, fmt.Errorf("catalog entry %q: %w", id, ErrNotFound)
}

// Pick returns e's version v, or its latest for "".
func Pick(e apiv1.CatalogEntry, v string) (apiv1.CatalogVersion, error) {
	if v == "" && len(e.Versions) > 0 {
		return e.Versions[0], nil
	}
	want, err := semver.NewVersion(v)
	if err == nil {
		for _, cv := range e.Versions {
			if got, err := semver.NewVersion(cv.Version); err == nil && got.Equal(want) {
				return cv, nil
			}
		}
	}
	return apiv1.CatalogVersion{}, fmt.Errorf("catalog entry %s has no version %q: %w", e.ID, v, ErrNotFound)
}

func matches(e apiv1.CatalogEntry, q Query) bool {
	if q.Category != "" && !slices.Contains(e.Categories, q.Category) {
		return false
	}
	if q.Tier != "" && !slices.Contains(e.Tiers, q.Tier) {
		return false
	}
	text := strings.ToLower(strings.Join(append([]string{e.ID, e.Name, e.Summary, e.Publisher}, e.Categories...), " "))
	for _, w := range strings.Fields(strings.ToLower(q.Q)) {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

// toWire is a file's entry as the API shows it: versions newest first.
func toWire(catalog string, e Entry) apiv1.CatalogEntry {
	out := apiv1.CatalogEntry{ID: e.ID, Name: e.Name, Summary: e.Summary, Description: e.Description,
		Categories: nonNil(e.Categories), Icon: e.Icon, Publisher: e.Publisher, Homepage: e.Homepage, Catalog: catalog,
		Tiers: []apiv1.Tier{}, Versions: slices.Clone(e.Versions)}
	sort.SliceStable(out.Versions, func(i, j int) bool { return newer(out.Versions[i].Version, out.Versions[j].Version) })
	for i, v := range out.Versions {
		out.Versions[i].Permissions = nonNil(v.Permissions)
		if !slices.Contains(out.Tiers, v.Tier) {
			out.Tiers = append(out.Tiers, v.Tier)
		}
	}
	if len(out.Versions) > 0 {
		out.Latest = out.Versions[0].Version
	}
	return out
}

// mark says whether e is installed and whether an update is available:
// the installed plugin came from the repository e's latest version names,
// and is older.
func mark(e apiv1.CatalogEntry, installed []apiv1.Plugin) apiv1.CatalogEntry {
	for _, p := range installed {
		if p.ID != e.ID {
			continue
		}
		e.Installed, e.InstalledVersion = true, p.Version
		if len(e.Versions) > 0 && p.Version != "" && FromSource(p.Source, e.Versions[0].Source) {
			e.UpdateAvailable = newer(e.Latest, p.Version)
		}
	}
	return e
}

// FromSource tells whether an installed plugin's source is the repository
// (and folder) a catalog version names.
func FromSource(src apiv1.Source, cs apiv1.CatalogSource) bool {
	if src.Kind != apiv1.SourceGit || cs.Repository == "" {
		return false
	}
	a, errA := policy.ParseRepo(src.Location)
	b, errB := policy.ParseRepo(cs.Repository)
	return errA == nil && errB == nil && strings.EqualFold(a.String(), b.String()) &&
		path.Clean("/"+src.Path) == path.Clean("/"+cs.Path)
}

// newer tells whether version a is higher than b; versions that do not
// parse are never newer.
func newer(a, b string) bool {
	va, errA := semver.NewVersion(a)
	vb, errB := semver.NewVersion(b)
	return errA == nil && errB == nil && va.GreaterThan(vb)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
