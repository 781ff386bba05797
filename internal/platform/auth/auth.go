// Package auth holds product-agnostic authentication building blocks: roles,
// the authenticated Principal carried in a request context, API keys for
// integrations and service accounts, OIDC bearer tokens from the identity
// provider, password hashing, and an Authenticator (with HTTP middleware)
// that turns an Authorization header into a Principal while rate limiting
// failed attempts per client address.
//
// Products decide what a principal may do; this package only establishes
// who the caller is, which organization it belongs to and in which role it
// acts. Error messages never contain credentials or token contents.
package auth

import (
	"context"
	"slices"

	"github.com/medplatform/medplatform/internal/platform/errs"
)

// Role is what a principal acts as. The values are stored with API keys and
// carried in OIDC tokens, so they must not change.
type Role string

// The roles.
const (
	// RoleAdmin administers an organization.
	RoleAdmin Role = "admin"
	// RoleClinician is a prescriber, pharmacist, nurse or other care-team
	// member.
	RoleClinician Role = "clinician"
	// RoleCaregiver is a family member or carer linked to patients.
	RoleCaregiver Role = "caregiver"
	// RolePatient is a patient acting on their own records.
	RolePatient Role = "patient"
	// RoleIntegration is a machine: a device hub, an SMS gateway webhook or
	// another system holding an API key.
	RoleIntegration Role = "integration"
)

// roles lists every valid role.
var roles = []Role{RoleAdmin, RoleClinician, RoleCaregiver, RolePatient, RoleIntegration}

// ParseRole returns the Role named s (exactly, case included) or an
// errs.Invalid error for the field "role".
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !slices.Contains(roles, r) {
		return "", errs.Invalid("role", "unknown role %q", s)
	}
	return r, nil
}

// needsLink reports whether a principal in role r must be linked to a
// domain record (Principal.Subject). Patients and caregivers only ever see
// data through that link, so an unlinked one is refused at authentication
// rather than left for every product query to remember to check.
func needsLink(r Role) bool {
	return r == RolePatient || r == RoleCaregiver
}

// The authentication methods recorded in Principal.Method.
const (
	MethodAPIKey = "api_key"
	MethodOIDC   = "oidc"
)

// Principal is an authenticated caller.
type Principal struct {
	// ID identifies the credential holder: the key id for an API key, or
	// "oidc:" followed by the token's "sub" claim for an OIDC token. The
	// prefix keeps the two namespaces apart in audit records.
	ID string
	// OrgID is the organization the principal belongs to. It is never empty.
	OrgID string
	// Role is what the principal acts as.
	Role Role
	// Subject is the id of the domain record the principal acts as: the
	// patient id for RolePatient, the caregiver id for RoleCaregiver, the
	// clinician id for RoleClinician. It is never empty for patients and
	// caregivers and may be empty for the other roles.
	Subject string
	// Method is how the principal authenticated: MethodAPIKey or MethodOIDC.
	Method string
}

// principalKey is the context key for the Principal.
type principalKey struct{}

// WithPrincipal returns a copy of ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the Principal stored by WithPrincipal, and false when
// there is none.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Require returns nil when p acts in one of roles. It returns an
// errs.Unauthorized error for the zero Principal (nobody authenticated) and
// an errs.Forbidden error otherwise.
func Require(p Principal, roles ...Role) error {
	if p.Role == "" {
		return errs.Unauthorized("authentication required")
	}
	if !slices.Contains(roles, p.Role) {
		return errs.Forbidden("role %s may not perform this action", p.Role)
	}
	return nil
}
