package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/blob"
	"github.com/medplatform/medplatform/internal/platform/config"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/rfc3339"
)

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", "migrate", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	d, err := open(ctx, getenv, stderr, false)
	if err != nil {
		return err
	}
	defer d.close()
	n, err := migrateUp(ctx, d.db)
	if err != nil {
		return err
	}
	migrate.WarnIfNewer(ctx, d.db, d.logger, migrationSets...)
	fmt.Fprintf(stdout, "applied %d migration(s) on %s\n", n, d.db.Dialect)
	return nil
}

// cmdHealthcheck probes the local server's /readyz; it needs no shell or
// curl in the image, so Docker HEALTHCHECK and ECS can call it directly.
func cmdHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("healthcheck", "healthcheck [--url http://127.0.0.1:8080/readyz]", stderr)
	target := fs.String("url", "", "URL to probe (default: /readyz at the address serve listens on, LISTEN_ADDR or LISTEN_ADDR_FILE, with 127.0.0.1 for a wildcard host)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	u, usage, err := health.ProbeURL(*target, func() (string, error) { return listenAddr(config.Env{Getenv: getenv}) }, "http://127.0.0.1:8080/readyz")
	if err != nil {
		if usage {
			fs.Usage()
		}
		return err
	}
	if !health.RunProbe(ctx, u, stdout, stderr) {
		return errSilent
	}
	return nil
}

// cmdBootstrap creates an organization and its first admin key, printing
// the key once.
func cmdBootstrap(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("admin bootstrap", "admin bootstrap --org NAME", stderr)
	org := fs.String("org", "", "name of the organization (care program) to create")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	name := strings.TrimSpace(*org)
	if name == "" {
		fs.Usage()
		return fmt.Errorf("--org is required (1 to 200 characters)")
	}
	if utf8.RuneCountInString(name) > 200 {
		return fmt.Errorf("--org must be at most 200 characters")
	}
	if adherence.HasControl(name) {
		return fmt.Errorf("--org %s", adherence.ControlRule)
	}
	d, err := open(ctx, getenv, stderr, true)
	if err != nil {
		return err
	}
	defer d.close()
	plaintext, keyID, hash, err := auth.NewAPIKey()
	if err != nil {
		return err
	}
	o, err := d.store.Bootstrap(ctx, name, adherence.APIKey{
		ID: keyID, Role: string(auth.RoleAdmin), Name: "bootstrap admin", Hash: hash,
		CreatedAt: time.Now().UTC(), CreatedBy: "cli:bootstrap",
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "org_id=%s\nadmin_key=%s\n", o.ID, plaintext)
	fmt.Fprintln(stderr, "Store the admin key now: it is shown only once.")
	return nil
}

// cmdCreateKey issues an admin key for an organization that exists
// already, printing the key once. It is the way back in when an org has no
// usable admin key left (all expired, or lost): the API refuses to revoke
// the last active one, but keys also expire and get lost. It needs access
// to the database, like bootstrap, and is audited as the CLI.
func cmdCreateKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("admin create-key", "admin create-key --org ORG_ID [--name NAME] [--expires RFC3339]", stderr)
	org := fs.String("org", "", "id of the organization (as printed by admin bootstrap, or GET /v1/me)")
	name := fs.String("name", "cli admin", "name of the key, shown in GET /v1/api-keys")
	expires := fs.String("expires", "", "when the key stops working (RFC 3339; default never)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	orgID := strings.TrimSpace(*org)
	if orgID == "" {
		fs.Usage()
		return fmt.Errorf("--org is required")
	}
	if utf8.RuneCountInString(*name) > 100 {
		return fmt.Errorf("--name must be at most 100 characters")
	}
	// As the API's name of a key: one line in GET /v1/api-keys.
	if adherence.HasControl(*name) {
		return fmt.Errorf("--name %s", adherence.ControlRule)
	}
	now := time.Now().UTC()
	var exp *time.Time
	if *expires != "" {
		t, err := parseInstantFlag("--expires", *expires)
		if err != nil {
			return err
		}
		if !t.After(now) {
			return fmt.Errorf("--expires must be in the future")
		}
		// As the API's expiresAt: an instant outside the years 1 to 9999
		// in UTC cannot be written in JSON, so GET /v1/api-keys would
		// answer 500 from then on.
		if y := t.UTC().Year(); y > 9999 {
			return fmt.Errorf("--expires must be before 10000-01-01T00:00:00Z")
		}
		exp = &t
	}
	d, err := openExisting(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer d.close()
	plaintext, keyID, hash, err := auth.NewAPIKey()
	if err != nil {
		return err
	}
	const actorID = "cli:create-key"
	err = d.store.CreateAPIKey(ctx, adherence.Actor{ID: actorID, Role: string(auth.RoleAdmin), OrgID: orgID}, adherence.APIKey{
		ID: keyID, OrgID: orgID, Role: string(auth.RoleAdmin), Name: *name, Hash: hash,
		CreatedAt: now, CreatedBy: actorID, ExpiresAt: exp,
	})
	if errs.Is(err, errs.CodeNotFound) {
		return fmt.Errorf("--org: no organization with id %q", orgID)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "key_id=%s\nadmin_key=%s\n", keyID, plaintext)
	fmt.Fprintln(stderr, "Store the admin key now: it is shown only once.")
	return nil
}

// parseInstantFlag reads a flag's timestamp strictly as RFC 3339, as the
// API reads instants (rfc3339.Strict): time.Parse also takes an
// offset of 24 hours or more (+24:00 is a whole day off), a comma before
// the fraction and a one-digit hour.
func parseInstantFlag(name, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil || !rfc3339.Strict(v) {
		return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 timestamp (Z or an offset from -23:59 to +23:59, such as 2026-03-08T00:00:00Z)", name, v)
	}
	return t, nil
}

func cmdSchedulePreview(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("schedule preview", "schedule preview --timing FILE|- --tz ZONE --from RFC3339 --to RFC3339 [--anchors wake=07:00,breakfast=07:30,…] [--start RFC3339] [--prn]", stderr)
	timingPath := fs.String("timing", "", "FHIR Timing JSON file, or - for standard input")
	tz := fs.String("tz", "", "patient's IANA time zone, e.g. America/New_York")
	from := fs.String("from", "", "first instant to show (RFC 3339)")
	to := fs.String("to", "", "end of the window, exclusive (RFC 3339)")
	anchors := fs.String("anchors", "", "patient anchor times, e.g. wake=06:30,breakfast=07:00,lunch=12:00,dinner=18:30,bed=22:00")
	start := fs.String("start", "", "schedule start when the Timing has no boundsPeriod.start (default: --from)")
	prn := fs.Bool("prn", false, "the plan is as-needed (no scheduled doses)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *timingPath == "" || *tz == "" || *from == "" || *to == "" {
		fs.Usage()
		return fmt.Errorf("--timing, --tz, --from and --to are required")
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil || *tz == "Local" {
		return fmt.Errorf("--tz: unknown time zone %q", *tz)
	}
	f, err := parseInstantFlag("--from", *from)
	if err != nil {
		return err
	}
	t, err := parseInstantFlag("--to", *to)
	if err != nil {
		return err
	}
	if t.Before(f) {
		// Said here with the flags' names: schedule.Expand names its own
		// fields (to, from), which the user never typed.
		return fmt.Errorf("--to: %s is before --from %s", t.Format(time.RFC3339), f.Format(time.RFC3339))
	}
	st := f
	if *start != "" {
		if st, err = parseInstantFlag("--start", *start); err != nil {
			return err
		}
	}
	a := schedule.DefaultAnchors()
	if *anchors != "" {
		if a, err = schedule.ParseAnchors(*anchors); err != nil {
			return fmt.Errorf("--anchors: %w", err)
		}
	}
	data, err := readTiming(*timingPath, stdin)
	if err != nil {
		return err
	}
	// Editors on Windows start a UTF-8 file with a byte order mark, which
	// JSON does not allow: it was refused as "invalid character 'ï'". It is
	// dropped, as report pdc drops it from a claims file.
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	return schedule.Preview(stdout, data, schedule.Params{Location: loc, Anchors: a, Start: st, From: f, To: t, AsNeeded: *prn})
}

// maxTiming is the most schedule preview reads of a timing, file or
// standard input alike.
const maxTiming = 1 << 20

// readTiming reads the timing named by --timing: a file, or standard input
// for "-". Either is refused past maxTiming, saying so; standard input was
// cut there silently and the JSON failed as "unexpected end of input".
func readTiming(path string, stdin io.Reader) ([]byte, error) {
	r, what := stdin, "standard input"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read timing: %w", err)
		}
		defer f.Close()
		r, what = f, path
	}
	data, err := io.ReadAll(io.LimitReader(r, maxTiming+1))
	if err != nil {
		return nil, fmt.Errorf("read timing: %w", err)
	}
	if len(data) > maxTiming {
		return nil, fmt.Errorf("--timing: %s is over 1 MiB", what)
	}
	return data, nil
}

// openAudit opens what the audit commands work on: the existing database
// and its checkpoint store (nil when BLOB_URL is not set on PostgreSQL).
func openAudit(ctx context.Context, getenv func(string) string, stderr io.Writer) (*deps, blob.Store, error) {
	d, err := openExisting(ctx, getenv, stderr)
	if err != nil {
		return nil, nil, err
	}
	blobs, err := d.blobStore(ctx)
	if err != nil {
		d.close()
		return nil, nil, err
	}
	return d, blobs, nil
}

// cmdAuditCheckpoint copies the audit chain's head to the blob store.
func cmdAuditCheckpoint(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("audit checkpoint", "audit checkpoint", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	d, blobs, err := openAudit(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer d.close()
	if blobs == nil {
		return fmt.Errorf("BLOB_URL is not set: nowhere to keep the checkpoint (s3://bucket/prefix, or a directory)")
	}
	cp, written, err := d.audit.WriteCheckpoint(ctx, blobs, time.Now())
	if err != nil {
		return err
	}
	switch {
	case cp.Seq == 0:
		fmt.Fprintln(stdout, "the audit trail is empty: nothing to checkpoint")
	case !written:
		fmt.Fprintf(stdout, "record %d is checkpointed already in %s\n", cp.Seq, blobs)
	default:
		fmt.Fprintf(stdout, "checkpoint of record %d (hash %s) written to %s\n", cp.Seq, cp.Hash, blobs)
	}
	return nil
}

// cmdAuditRestored records that the database was restored to an earlier
// point of its audit chain (audit.Log.AcknowledgeRestore).
func cmdAuditRestored(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("audit restored", "audit restored --reason TEXT", stderr)
	reason := fs.String("reason", "", "which backup or point in time was restored, and why (one line, required; kept in BLOB_URL and shown by every 'audit verify')")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(*reason) == "" {
		return errors.New("--reason is required: say which backup or point in time was restored, and why")
	}
	d, blobs, err := openAudit(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer d.close()
	if blobs == nil {
		return fmt.Errorf("BLOB_URL is not set: without checkpoints there is no restore to acknowledge")
	}
	r, err := d.audit.AcknowledgeRestore(ctx, blobs, time.Now(), *reason)
	if err != nil {
		return fmt.Errorf("audit restored: %w", err)
	}
	fmt.Fprintf(stdout, "restore recorded in %s at %s: the checkpoints after record %d taken until now belong to the chain the restore abandoned and are set aside; 'adherence audit verify' names this restore from now on\n",
		blobs, r.At.Format(time.RFC3339), r.Seq)
	return nil
}

// cmdAuditVerify walks the audit hash chain and exits 1 at the first
// altered, deleted or reordered record.
func cmdAuditVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("audit verify", "audit verify", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	d, blobs, err := openAudit(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer d.close()
	var cps []audit.Checkpoint
	var restores []audit.Restore
	if blobs != nil {
		if cps, err = audit.ReadCheckpoints(ctx, blobs); err != nil {
			return err
		}
		if restores, err = audit.ReadRestores(ctx, blobs); err != nil {
			return err
		}
	}
	res, err := d.audit.VerifyAgainst(ctx, cps, restores)
	if err != nil {
		return err
	}
	return reportVerify(res, blobs, cps, restores, stdout, stderr)
}

func reportVerify(res audit.VerifyResult, blobs blob.Store, cps []audit.Checkpoint, restores []audit.Restore, stdout, stderr io.Writer) error {
	// A restore is evidence: every run names it, whatever the outcome.
	for _, r := range restores {
		fmt.Fprintf(stdout, "restore acknowledged %s: the chain was restored to an earlier point; record %d is the last checkpoint kept (reason: %s)\n",
			r.At.Format(time.RFC3339), r.Seq, r.Reason)
	}
	if res.OK {
		fmt.Fprintf(stdout, "audit chain intact: %d record(s) verified", res.Checked)
		switch {
		case blobs == nil:
			fmt.Fprint(stdout, "; no checkpoints to verify against (BLOB_URL is not set)")
		case len(cps) == 0:
			fmt.Fprintf(stdout, "; no checkpoint in %s yet", blobs)
			if dir, ok := blobs.(*blob.Dir); ok && !dir.Exists() {
				// Never written, or not the place they were written to: a
				// mistyped BLOB_URL read as a chain without checkpoints.
				fmt.Fprint(stdout, " (the directory does not exist: if checkpoints were written, BLOB_URL names another place)")
			}
		case res.SetAside == len(cps):
			fmt.Fprintf(stdout, "; no checkpoint in %s to verify against: %d checkpoint(s) of the chain a restore abandoned set aside", blobs, res.SetAside)
		default:
			// The last checked, not the last written: one that a restore
			// set aside names a record of the abandoned chain.
			fmt.Fprintf(stdout, ", against %d checkpoint(s) in %s (the last of record %d, %s)", len(cps)-res.SetAside, blobs, res.Last.Seq, res.Last.At.Format(time.RFC3339))
			if res.SetAside > 0 {
				fmt.Fprintf(stdout, "; %d checkpoint(s) of the chain a restore abandoned set aside", res.SetAside)
			}
		}
		fmt.Fprintln(stdout)
		return nil
	}
	// A record missing at the end of the chain (truncated) or one past
	// the head has no id to name.
	at := fmt.Sprintf("seq %d", res.FirstBadSeq)
	if res.FirstBadID != "" {
		at += fmt.Sprintf(" (id %s)", res.FirstBadID)
	}
	fmt.Fprintf(stderr, "audit chain BROKEN at %s: %s\n", at, res.Problem)
	return errSilent
}
