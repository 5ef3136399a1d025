// Package policy decides whether the plugin host may install a plugin:
// whether the repository it comes from is allowed, whether it fits the size
// limit, and whether its checksum and signature hold up; and which of the
// permissions it asks for it is granted.
//
// Plugins are code the host will run, so every decision is made on parsed,
// normalised values rather than on the strings users typed: an allow-list
// glob such as "github.com/kubestellar/*" is matched segment by segment
// against the parsed host, owner and repository, so look-alikes such as
// github.com.evil.io/kubestellar/x, github.com/kubestellar-evil/x or
// github.com/kubestellar/x/../../evil/y cannot slip through.
//
// A decision against an install is a *Refusal naming the rule that refused
// it, so operators can tell which setting to change. In permissive mode most
// of the same findings come back as warnings instead, and the install goes
// ahead.
package policy

import (
	"fmt"
	"strings"
)

// Security modes, as configured in Policy.Mode.
const (
	// ModeStrict admits only repositories on the allow-list and only
	// artifacts signed by a trusted key.
	ModeStrict = "strict"
	// ModeNormal admits only repositories on the allow-list and refuses
	// evidence that fails: a checksum or signature, when given, must hold.
	ModeNormal = "normal"
	// ModePermissive admits everything that fits the size limit and turns
	// every other failed rule into a warning.
	ModePermissive = "permissive"
)

// Rule names, as reported in Refusal.Rule. They match the configuration
// setting (or the piece of evidence) that an operator would look at.
const (
	RuleAllowedRepos      = "allowed_repos"
	RuleMaxPluginSize     = "max_plugin_size"
	RuleChecksum          = "checksum"
	RuleSignature         = "signature"
	RuleSignatureRequired = "signature_required"
)

// Refusal is the error returned when the policy refuses an install. Callers
// can use errors.As to tell a policy decision (typically reported to the
// user as 403 or 422) from a failure to decide.
type Refusal struct {
	// Rule is one of the Rule* constants.
	Rule string
	// Message says what failed the rule, for people.
	Message string
}

// Error reports the rule and what failed it, as in
// "refused by allowed_repos: github.com/evil/x matches none of github.com/kubestellar/*".
func (r *Refusal) Error() string {
	return "refused by " + r.Rule + ": " + r.Message
}

// Policy is the security configuration that decides installs. The zero
// value is strict, allows no repository and no size, so a policy that was
// never configured refuses everything.
type Policy struct {
	// Mode is ModeStrict, ModeNormal or ModePermissive. Any other value,
	// including "", is treated as ModeStrict so that a typo fails closed.
	Mode string

	// AllowedRepos are globs of host/owner or host/owner/repo. Each "/"
	// segment is matched on its own with path.Match, so "*" never spans
	// segments; hosts, owners and repository names compare
	// case-insensitively, as GitHub does. A two-segment glob "host/owner"
	// admits every repository of that owner. An empty list admits nothing
	// in strict and normal mode and everything (with a warning) in
	// permissive mode. Malformed globs match nothing.
	AllowedRepos []string

	// MaxPluginSize bounds, in bytes, an archive, a repository checkout or
	// an artifact. It applies in every mode, because it protects the host's
	// disk and memory rather than expressing trust. A value of zero or less
	// admits nothing.
	MaxPluginSize int64

	// ValidateChecksums turns checksum verification on in normal and
	// permissive mode; when off, a given checksum is ignored with a
	// warning. Strict mode always verifies checksums.
	ValidateChecksums bool

	// TrustedKeys are the ed25519 public keys whose signatures are
	// accepted: the standard base64 encoding of the 32 raw key bytes,
	// optionally prefixed "ed25519:" (the form EncodePublicKey writes).
	// Malformed keys are ignored, with a warning when a signature is
	// checked.
	TrustedKeys []string
}

// mode returns the effective mode, failing closed on unknown values.
func (p Policy) mode() string {
	switch p.Mode {
	case ModeNormal, ModePermissive:
		return p.Mode
	}
	return ModeStrict
}

// verdict collects the outcome of one check: in permissive mode a broken
// rule becomes a warning, otherwise a Refusal.
type verdict struct {
	permissive bool
	warnings   []string
}

func (p Policy) verdict() *verdict {
	return &verdict{permissive: p.mode() == ModePermissive}
}

// breach records that rule failed. It returns the Refusal to give up with,
// or nil when the failure is only a warning.
func (v *verdict) breach(rule, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if v.permissive {
		v.warnings = append(v.warnings, rule+": "+msg+" (allowed in permissive mode)")
		return nil
	}
	return &Refusal{Rule: rule, Message: msg}
}

// warn records a warning that does not depend on the mode.
func (v *verdict) warn(rule, format string, args ...any) {
	v.warnings = append(v.warnings, rule+": "+fmt.Sprintf(format, args...))
}

// CheckRepo decides whether plugins may be installed from r. It returns
// warnings in permissive mode, where a repository off the allow-list is
// still admitted, or a *Refusal with rule RuleAllowedRepos. A Repo that
// ParseRepo would not have produced (say, a hand-built one whose Name
// contains "/") is refused in every mode.
func (p Policy) CheckRepo(r Repo) (warnings []string, err error) {
	if err := r.validate(); err != nil {
		return nil, &Refusal{Rule: RuleAllowedRepos, Message: fmt.Sprintf("%q is not a valid repository: %v", r.String(), err)}
	}
	v := p.verdict()
	if len(p.AllowedRepos) == 0 {
		if err := v.breach(RuleAllowedRepos, "the list is empty, so no repository is allowed; %s is not", r); err != nil {
			return nil, err
		}
		return v.warnings, nil
	}
	for _, g := range p.AllowedRepos {
		if matchGlob(g, r) {
			return nil, nil
		}
	}
	if err := v.breach(RuleAllowedRepos, "%s matches none of %s", r, strings.Join(p.AllowedRepos, ", ")); err != nil {
		return nil, err
	}
	return v.warnings, nil
}

// CheckSize decides whether n bytes of what (such as "archive",
// "repository checkout" or "artifact", which the message names) fit
// MaxPluginSize. The limit holds in every mode, so the result never carries
// warnings today; the return value leaves room for them.
func (p Policy) CheckSize(what string, n int64) (warnings []string, err error) {
	switch {
	case n < 0:
		return nil, &Refusal{Rule: RuleMaxPluginSize, Message: fmt.Sprintf("%s has an invalid size of %d bytes", what, n)}
	case p.MaxPluginSize <= 0:
		return nil, &Refusal{Rule: RuleMaxPluginSize, Message: fmt.Sprintf("no positive limit is configured, so %s of %d bytes is not allowed", what, n)}
	case n > p.MaxPluginSize:
		return nil, &Refusal{Rule: RuleMaxPluginSize, Message: fmt.Sprintf("%s is %d bytes, over the limit of %d bytes", what, n, p.MaxPluginSize)}
	}
	return nil, nil
}
