// Package git fetches a plugin's source from a git repository over HTTP(S)
// with go-git, without the git command line.
//
// Fetch writes the files of one commit, chosen by tag, branch or commit
// SHA, to a new folder; Resolve tells which commit a version names without
// downloading it. Repository data is held in memory only: no .git folder is
// written, and symbolic links and submodules are refused rather than
// checked out.
//
// A token, when given, is sent as HTTP basic auth, only to the origin it
// was configured for (FetchOptions.TokenBase), and never appears in returned
// errors.
package git

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/kubestellar/ksplugins/internal/policy"
)

// tokenUser is the basic-auth user name sent with a token, as GitHub accepts.
const tokenUser = "x-access-token"

// minAbbrev is the shortest abbreviated commit SHA accepted as a version.
const minAbbrev = 7

// refCommit is Result.Ref for a version that named a commit by its SHA.
const refCommit = "commit"

// FetchOptions says which repository and version to fetch, and how.
type FetchOptions struct {
	// URL is the clone URL, such as http://127.0.0.1:1234/owner/repo.git or
	// https://github.com/owner/repo. Only http and https are accepted.
	URL string
	// Ref is the version: a tag, a branch, a full ref name (refs/...), or a
	// full or abbreviated (at least 7 hex digits) commit SHA, tried in that
	// order. Empty means the default branch (the remote HEAD).
	Ref string
	// Token, when not empty, is sent as HTTP basic auth with user name
	// "x-access-token" and the token as password, but only when URL has
	// TokenBase's origin (see policy.TokenMayReach); any other repository
	// is fetched without it. It is never logged nor included in errors.
	Token string
	// TokenBase is the URL the token was configured for (the
	// repository_base_url): the token goes to its scheme, host and port
	// only, over https, or plain http to loopback. Empty: the token is
	// never sent.
	TokenBase string
	// MaxBytes, when positive, refuses (with a *RefusedError) a checkout
	// whose files total more than this many bytes.
	MaxBytes int64
	// Progress, when not nil, receives the server's sideband progress
	// messages.
	Progress io.Writer
}

// Result tells which commit a version resolved to.
type Result struct {
	// Commit is the resolved commit's full 40-hex-digit SHA.
	Commit string
	// Ref is what the version resolved through: a ref name such as
	// "refs/tags/v1.0.0" or "refs/heads/main", or "commit" for a SHA.
	Ref string
}

// NotFoundError reports a version that names no tag, branch or commit of
// the repository.
type NotFoundError struct {
	// Ref is the version as given; empty for the default branch.
	Ref string
}

// Error names the version that was not found.
func (e *NotFoundError) Error() string {
	if e.Ref == "" {
		return "default branch not found: the repository is empty or has no HEAD"
	}
	return fmt.Sprintf("version %s not found: no tag, branch or commit by that name", e.Ref)
}

// AuthError reports that the server refused access (HTTP 401 or 403).
type AuthError struct {
	// TokenSet reports whether a token was sent (and so was refused).
	TokenSet bool
	// Withheld reports that a token was configured but not sent, because
	// the repository is not at the origin it was configured for.
	Withheld bool
}

// Error asks for a token, or for a different one.
func (e *AuthError) Error() string {
	switch {
	case e.TokenSet:
		return "repository refused the configured token: check the token in configuration"
	case e.Withheld:
		return "repository needs credentials: the configured token is sent only to repository_base_url's host"
	}
	return "repository needs credentials: set a token in configuration"
}

// RefusedError reports a checkout that Fetch will not write: one over
// FetchOptions.MaxBytes, or one holding an entry that is not a plain file or
// folder (a symbolic link or submodule) or has an unsafe name.
type RefusedError struct {
	// Path is the offending tree entry, slash-separated; empty when the
	// checkout as a whole is refused.
	Path string
	// Reason says why.
	Reason string
}

// Error names the refused entry, if any, and why.
func (e *RefusedError) Error() string {
	if e.Path == "" {
		return "checkout refused: " + e.Reason
	}
	return fmt.Sprintf("checkout refused: %s: %s", e.Path, e.Reason)
}

// Fetch writes the files of the commit that opts.Ref names in the
// repository at opts.URL to dest, which must not exist; its parent folder is
// created if needed. dest is written as a temporary sibling then renamed, so
// it either appears complete or not at all. Nothing else is written: no .git
// folder, and the repository data is kept in memory.
//
// Tags and branches are fetched shallowly; a commit that is not the tip of
// a ref is found by fetching all branches and tags.
//
// Errors include *NotFoundError when the version names nothing, *AuthError
// when the server asks for or refuses credentials, *RefusedError for a
// checkout over MaxBytes or holding symbolic links or submodules, and ctx's
// error, wrapped, when ctx ends first.
func Fetch(ctx context.Context, dest string, opts FetchOptions) (Result, error) {
	if dest == "" {
		return Result{}, errors.New("git fetch: empty destination")
	}
	if err := checkAbsent(dest); err != nil {
		return Result{}, err
	}
	c, want, err := lookup(ctx, opts)
	if err != nil {
		return Result{}, err
	}

	var repo *gogit.Repository
	var commit *object.Commit
	if want.fetchRef != "" {
		if repo, err = c.fetch(ctx, []config.RefSpec{refSpec(want.fetchRef)}, 1); err != nil {
			return Result{}, err
		}
		if commit, err = peelRef(repo, want.fetchRef); err != nil {
			return Result{}, err
		}
		// A SHA matched a ref's tip when listed; make sure the ref has not
		// moved since, or look for the commit in the full history.
		if want.sha != "" && !strings.HasPrefix(commit.Hash.String(), want.sha) {
			commit = nil
		}
	}
	if commit == nil {
		all := []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}
		if repo, err = c.fetch(ctx, all, 0); err != nil {
			return Result{}, err
		}
		if commit, err = findCommit(repo, want.sha, opts.Ref); err != nil {
			return Result{}, err
		}
	}

	files, err := listTree(repo, commit, opts.MaxBytes)
	if err != nil {
		return Result{}, err
	}
	if err := writeAtomic(ctx, dest, files); err != nil {
		return Result{}, err
	}
	return Result{Commit: commit.Hash.String(), Ref: want.Ref}, nil
}

// Resolve returns the commit that opts.Ref names, from the repository's
// advertised refs (as "git ls-remote" does), without fetching any objects.
// A SHA that is not a ref's tip cannot be checked this way: a full 40-digit
// SHA is returned as given (in lower case), and an abbreviated one gives a
// *NotFoundError. Other errors are as for Fetch.
func Resolve(ctx context.Context, opts FetchOptions) (Result, error) {
	_, want, err := lookup(ctx, opts)
	if err != nil {
		return Result{}, err
	}
	if want.Commit == "" {
		return Result{}, &NotFoundError{Ref: opts.Ref}
	}
	return want.Result, nil
}

// client talks to one remote repository.
// lookup connects to the repository and finds what opts.Ref names among
// its advertised refs.
func lookup(ctx context.Context, opts FetchOptions) (*client, target, error) {
	c, err := newClient(opts)
	if err != nil {
		return nil, target{}, err
	}
	refs, err := c.list(ctx)
	if err != nil {
		return nil, target{}, err
	}
	want, err := resolve(refs, opts.Ref)
	return c, want, err
}

type client struct {
	url      string // as given
	redacted string // for messages: without user name or password
	auth     transport.AuthMethod
	sent     bool // credentials went with the requests: the token or the URL's
	withheld bool // a token was given but not for this origin
	progress io.Writer
	secrets  []string // strings never to show in errors
}

func newClient(opts FetchOptions) (*client, error) {
	u, err := url.Parse(opts.URL)
	if err != nil {
		// url.Error repeats the URL, which may hold credentials.
		return nil, errors.New("git: invalid repository URL")
	}
	shown := *u
	shown.User = nil
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("git: repository URL %s: want an http or https URL", shown.String())
	}
	c := &client{url: opts.URL, redacted: shown.String(), progress: opts.Progress}
	if opts.Token != "" {
		// Still a secret when withheld: a server may echo anything.
		c.secrets = append(c.secrets, opts.Token)
		if policy.TokenMayReach(opts.TokenBase, opts.URL) {
			c.auth = &githttp.BasicAuth{Username: tokenUser, Password: opts.Token}
			c.sent = true
		} else {
			c.withheld = true
		}
	}
	if u.User != nil {
		c.sent = true
		if pass, ok := u.User.Password(); ok && pass != "" {
			c.secrets = append(c.secrets, pass)
		} else if name := u.User.Username(); name != "" {
			c.secrets = append(c.secrets, name) // a token given as user name
		}
	}
	return c, nil
}

// list returns the remote's refs, with annotated tags' peeled values under
// "<name>^{}".
func (c *client) list(ctx context.Context) ([]*plumbing.Reference, error) {
	remote := gogit.NewRemote(memory.NewStorage(), &config.RemoteConfig{
		Name: gogit.DefaultRemoteName,
		URLs: []string{c.url},
	})
	refs, err := remote.ListContext(ctx, &gogit.ListOptions{
		Auth:          c.auth,
		PeelingOption: gogit.AppendPeeled,
	})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil, nil
	}
	if err != nil {
		return nil, c.wrap(ctx, "list refs of", err)
	}
	return refs, nil
}

// fetch fetches specs, to depth when positive, into a new in-memory
// repository.
func (c *client) fetch(ctx context.Context, specs []config.RefSpec, depth int) (*gogit.Repository, error) {
	repo, err := gogit.Init(memory.NewStorage(), nil)
	if err != nil {
		return nil, fmt.Errorf("git: %w", err)
	}
	remote, err := repo.CreateRemote(&config.RemoteConfig{
		Name:  gogit.DefaultRemoteName,
		URLs:  []string{c.url},
		Fetch: specs,
	})
	if err != nil {
		return nil, fmt.Errorf("git: %w", err)
	}
	err = remote.FetchContext(ctx, &gogit.FetchOptions{
		RemoteName: gogit.DefaultRemoteName,
		RefSpecs:   specs,
		Depth:      depth,
		Auth:       c.auth,
		Progress:   c.progress,
		Tags:       gogit.NoTags,
	})
	// An empty repository has nothing to find: leave that to the caller.
	if err != nil && !errors.Is(err, gogit.NoErrAlreadyUpToDate) && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil, c.wrap(ctx, "fetch", err)
	}
	return repo, nil
}

// wrap turns a transport error into the package's errors, naming the
// repository without credentials and keeping secrets out of the message.
func (c *client) wrap(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("git: %s %s: %w", op, c.redacted, ctxErr)
	}
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
		return &AuthError{TokenSet: c.sent, Withheld: c.withheld && !c.sent}
	}
	if errors.Is(err, transport.ErrRepositoryNotFound) {
		err = transport.ErrRepositoryNotFound // drop the server's text
	}
	msg := err.Error()
	for _, s := range c.secrets {
		if strings.Contains(msg, s) {
			// Keeping err in the chain would let its text be printed.
			msg = strings.ReplaceAll(msg, s, "REDACTED")
			return fmt.Errorf("git: %s %s: %s", op, c.redacted, msg)
		}
	}
	return fmt.Errorf("git: %s %s: %w", op, c.redacted, err)
}

// target is what a version resolved to from the remote's refs.
type target struct {
	Result
	// fetchRef is the ref to fetch shallowly; empty to fetch everything.
	fetchRef plumbing.ReferenceName
	// sha is the lower-case SHA, full or abbreviated, when the version
	// named a commit.
	sha string
}

// resolve picks what ref (the version) names among refs, trying the
// default branch for "", then a tag, a branch, a full ref name, and a
// commit SHA. For a SHA that is no ref's tip, the target has no fetchRef,
// and no Commit unless the SHA is full.
func resolve(refs []*plumbing.Reference, ref string) (target, error) {
	hashes := map[plumbing.ReferenceName]string{} // ref -> commit (peeled)
	symbolic := map[plumbing.ReferenceName]plumbing.ReferenceName{}
	for _, r := range refs {
		if r.Type() == plumbing.SymbolicReference {
			symbolic[r.Name()] = r.Target()
			continue
		}
		name, peeled := strings.CutSuffix(r.Name().String(), "^{}")
		if _, seen := hashes[plumbing.ReferenceName(name)]; !seen || peeled {
			hashes[plumbing.ReferenceName(name)] = r.Hash().String()
		}
	}
	found := func(name plumbing.ReferenceName) target {
		return target{Result: Result{Commit: hashes[name], Ref: name.String()}, fetchRef: name}
	}

	if ref == "" {
		if head, ok := symbolic[plumbing.HEAD]; ok {
			if _, ok := hashes[head]; ok && head.IsBranch() {
				return found(head), nil
			}
			return target{}, &NotFoundError{}
		}
		// No symref capability: HEAD is a hash; name the branch it is at.
		head, ok := hashes[plumbing.HEAD]
		if !ok {
			return target{}, &NotFoundError{}
		}
		var names []string
		for name, h := range hashes {
			if name.IsBranch() && h == head {
				names = append(names, name.String())
			}
		}
		if len(names) == 0 {
			return target{}, &NotFoundError{}
		}
		sort.Slice(names, func(i, j int) bool {
			return branchRank(names[i]) < branchRank(names[j]) ||
				branchRank(names[i]) == branchRank(names[j]) && names[i] < names[j]
		})
		return found(plumbing.ReferenceName(names[0])), nil
	}

	candidates := []plumbing.ReferenceName{
		plumbing.NewTagReferenceName(ref),
		plumbing.NewBranchReferenceName(ref),
	}
	if strings.HasPrefix(ref, "refs/") {
		candidates = append(candidates, plumbing.ReferenceName(ref))
	}
	for _, name := range candidates {
		if _, ok := hashes[name]; ok {
			return found(name), nil
		}
	}

	if !isSHA(ref) {
		return target{}, &NotFoundError{Ref: ref}
	}
	sha := strings.ToLower(ref)
	t := target{Result: Result{Ref: refCommit}, sha: sha}
	if len(sha) == 40 {
		t.Commit = sha
	}
	// Prefer a shallow fetch when the SHA is the tip of some ref.
	var tips []string
	for name, h := range hashes {
		if name != plumbing.HEAD && strings.HasPrefix(h, sha) {
			tips = append(tips, name.String())
		}
	}
	sort.Strings(tips)
	if len(tips) > 0 && allSame(hashes, tips) {
		t.Commit = hashes[plumbing.ReferenceName(tips[0])]
		t.fetchRef = plumbing.ReferenceName(tips[0])
	}
	return t, nil
}

// branchRank orders the branches HEAD may be at: main, master, others.
func branchRank(name string) int {
	switch name {
	case "refs/heads/main":
		return 0
	case "refs/heads/master":
		return 1
	}
	return 2
}

// allSame reports whether all names have the same hash.
func allSame(hashes map[plumbing.ReferenceName]string, names []string) bool {
	for _, n := range names[1:] {
		if hashes[plumbing.ReferenceName(n)] != hashes[plumbing.ReferenceName(names[0])] {
			return false
		}
	}
	return true
}

// isSHA reports whether s may be a full or abbreviated commit SHA.
func isSHA(s string) bool {
	if len(s) < minAbbrev || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return true
}

// refSpec fetches name to the same name.
func refSpec(name plumbing.ReferenceName) config.RefSpec {
	return config.RefSpec("+" + name.String() + ":" + name.String())
}

// peelRef returns the commit that the fetched ref name points at, through
// any annotated tags.
func peelRef(repo *gogit.Repository, name plumbing.ReferenceName) (*object.Commit, error) {
	ref, err := repo.Reference(name, true)
	if err != nil {
		return nil, fmt.Errorf("git: fetched %s but cannot read it: %w", name, err)
	}
	h := ref.Hash()
	for range 10 { // tags of tags, but not forever
		tag, err := repo.TagObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("git: read tag %s: %w", name, err)
		}
		h = tag.Target
	}
	commit, err := repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("git: %s does not point at a commit: %w", name, err)
	}
	return commit, nil
}

// findCommit returns the one commit in repo whose SHA starts with sha; ref
// is the version as given, for errors.
func findCommit(repo *gogit.Repository, sha, ref string) (*object.Commit, error) {
	if sha == "" {
		return nil, &NotFoundError{Ref: ref}
	}
	if len(sha) == 40 {
		commit, err := repo.CommitObject(plumbing.NewHash(sha))
		if err != nil {
			return nil, &NotFoundError{Ref: ref}
		}
		return commit, nil
	}
	iter, err := repo.CommitObjects()
	if err != nil {
		return nil, fmt.Errorf("git: %w", err)
	}
	var match *object.Commit
	n := 0
	err = iter.ForEach(func(c *object.Commit) error {
		if strings.HasPrefix(c.Hash.String(), sha) {
			match = c
			n++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("git: %w", err)
	}
	switch n {
	case 0:
		return nil, &NotFoundError{Ref: ref}
	case 1:
		return match, nil
	}
	return nil, fmt.Errorf("git: version %s is ambiguous: %d commits start with it; give more digits", ref, n)
}

// file is one tree entry to write: a folder (blob nil) or a file.
type file struct {
	path string // slash-separated
	exec bool
	blob *object.Blob
}

// listTree lists commit's folders and files in write order (each folder
// before its contents), refusing symbolic links, submodules, unsafe names
// and, when maxBytes is positive, a total file size over it.
func listTree(repo *gogit.Repository, commit *object.Commit, maxBytes int64) ([]file, error) {
	tree, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("git: read tree of %s: %w", commit.Hash, err)
	}
	var files []file
	var total int64
	var walk func(t *object.Tree, prefix string) error
	walk = func(t *object.Tree, prefix string) error {
		for _, e := range t.Entries {
			p := e.Name
			if prefix != "" {
				p = prefix + "/" + e.Name
			}
			if !safeName(e.Name) {
				return &RefusedError{Path: p, Reason: "unsafe file name"}
			}
			switch e.Mode {
			case filemode.Dir:
				sub, err := object.GetTree(repo.Storer, e.Hash)
				if err != nil {
					return fmt.Errorf("git: read tree %s: %w", p, err)
				}
				files = append(files, file{path: p})
				if err := walk(sub, p); err != nil {
					return err
				}
			case filemode.Regular, filemode.Deprecated, filemode.Executable:
				blob, err := object.GetBlob(repo.Storer, e.Hash)
				if err != nil {
					return fmt.Errorf("git: read file %s: %w", p, err)
				}
				total += blob.Size
				if maxBytes > 0 && total > maxBytes {
					return &RefusedError{Reason: fmt.Sprintf("files total more than the %d-byte limit", maxBytes)}
				}
				files = append(files, file{path: p, exec: e.Mode == filemode.Executable, blob: blob})
			case filemode.Symlink:
				return &RefusedError{Path: p, Reason: "symbolic links are not supported"}
			case filemode.Submodule:
				return &RefusedError{Path: p, Reason: "submodules are not supported"}
			default:
				return &RefusedError{Path: p, Reason: fmt.Sprintf("unsupported file mode %s", e.Mode)}
			}
		}
		return nil
	}
	if err := walk(tree, ""); err != nil {
		return nil, err
	}
	return files, nil
}

// safeName reports whether a tree entry name may be written: one path
// element, not "." or "..", and not .git.
func safeName(name string) bool {
	return name != "" && name != "." && name != ".." &&
		!strings.ContainsAny(name, "/\\\x00") && !strings.EqualFold(name, ".git")
}

// writeAtomic writes files to a temporary sibling of dest, then renames it
// to dest. On error nothing is left behind.
func writeAtomic(ctx context.Context, dest string, files []file) (err error) {
	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("git: create %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dest)+".tmp-")
	if err != nil {
		return fmt.Errorf("git: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("git: %w", err)
	}
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return fmt.Errorf("git: %w", err)
	}
	defer root.Close()
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("git: write %s: %w", dest, err)
		}
		if err := writeFile(root, f); err != nil {
			return fmt.Errorf("git: write %s: %w", f.path, err)
		}
	}
	if err := checkAbsent(dest); err != nil {
		return err
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("git: %w", err)
	}
	return nil
}

// writeFile creates the folder or file f under root.
func writeFile(root *os.Root, f file) (err error) {
	name := filepath.FromSlash(f.path)
	if f.blob == nil {
		return root.Mkdir(name, 0o755)
	}
	mode := fs.FileMode(0o644)
	if f.exec {
		mode = 0o755
	}
	r, err := f.blob.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = io.Copy(w, r)
	return err
}

// checkAbsent fails unless nothing exists at dest.
func checkAbsent(dest string) error {
	_, err := os.Lstat(dest)
	if err == nil {
		return fmt.Errorf("git: destination %s: %w", dest, fs.ErrExist)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("git: destination: %w", err)
	}
	return nil
}
