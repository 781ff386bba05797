// Command adherence is the Medication Adherence Platform: the API server,
// its background workers and the operator commands. Run `adherence --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// defaultGCPercent is the garbage collector's target (GOGC) when the
// environment sets none. Go's 100 collected often enough on event batches
// that raising it to 200 cut the server's CPU per event from 35 to 27 µs
// (bench/events, PostgreSQL, batches of 500); the live heap of serve is
// tens of MiB, so a heap allowed to grow to three times that is far below
// a task's memory. GOGC (and GOMEMLIMIT) in the environment still decide.
const defaultGCPercent = 200

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts a graceful stop; the default handling is
	// then restored, so a second one ends the process at once: an
	// operator can force-quit a stop that waits (a drain, a load or job
	// finishing) with a second Ctrl-C.
	go func() {
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) && !errors.Is(err, errSilent) {
			fmt.Fprintln(os.Stderr, "adherence:", err)
		}
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(1)
	}
}

// errSilent ends the process with status 1 after the command already
// printed what went wrong (healthcheck, audit verify).
var errSilent = errors.New("failed")

const usage = `adherence — Medication Adherence Platform

Usage: adherence <command> [flags]

Commands:
  serve              run the HTTP API (and the job workers unless --workers=false)
  worker             run the job workers only
  migrate            apply database migrations and exit
  healthcheck        exit 0 if the local server is ready, 1 otherwise
  admin bootstrap    create an organization and print its first admin API key
  admin create-key   print a new admin API key for an existing organization (recovery)
  schedule preview   print the dose times a FHIR Timing produces
  audit verify       check the audit trail's hash chain (and against its checkpoints)
  audit checkpoint   copy the audit chain's head to BLOB_URL now (the workers do it hourly)
  audit restored     record a restore to an earlier point, setting aside the checkpoints it abandoned
  report pdc         compute PQA PDC per patient from a pharmacy-claims CSV
  backup --out FILE  copy the SQLite database, consistently, while it serves (PostgreSQL: the engine's backups)
  restore --from FILE  replace the SQLite database with a checked backup (serve and worker stopped)

Configuration comes from flags and environment variables:
  DATABASE_URL       postgres://… or sqlite:path (default sqlite:data/adherence.db)
                     (a SQLite URL takes no ?query and no '#': write them %3F, %23 in a file name)
  LISTEN_ADDR        HTTP listen address (default :8080)
  REDIS_URL          redis://… for shared rate limits and API key revocations heard by every API
                     process at once (default: in-process)
  TRUSTED_PROXIES    load balancers (IPs or CIDRs, comma-separated) whose X-Forwarded-For names the
                     client for the failed-auth rate limit, the audit trail and the logs, and whose
                     X-Forwarded-Proto is believed (default none)
  LOG_LEVEL          debug, info, warn, error (default info)
  OIDC_ISSUER, OIDC_AUDIENCE, OIDC_JWKS_URL, OIDC_ORG_CLAIM, OIDC_ROLE_CLAIM, OIDC_SUBJECT_CLAIM
  OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME   tracing (off when unset)
  DOSE_HORIZON_DAYS  days of dose instances kept materialised (default 14)
  API_KEY_CACHE_TTL  how long a looked-up API key is remembered; a revocation takes effect at once
                     in the process that made it, and in the others through REDIS_URL or else
                     within this (default 5s, 0 disables)
  INGEST_COMMITTERS  event groups committing at once on PostgreSQL (default 2; SQLite: 1)
  SHUTDOWN_DRAIN     time readiness fails before the listener closes (default 5s; 0s or more)
  REQUEST_TIMEOUT    deadline of each HTTP request; past it a stalled database read answers 503 (default 30s)
  PPROF_ADDR         serve Go profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6060 (default off)
  GOGC               Go's garbage-collector target (default here 200, Go's own is 100); GOMEMLIMIT as in Go
  JOB_WORKERS        jobs worked at once per process (default 50: deliveries wait on providers)
  DB_MAX_CONNS       PostgreSQL connections a process may open, API, workers and the job queue's
                     listener together (default 20; 4 to 1000); work beyond them waits. SQLite: not used
  BLOB_URL           where audit checkpoints are kept: s3://bucket/prefix (a bucket with Object Lock)
                     or a directory (default on SQLite: FILE-blobs beside the database FILE; on PostgreSQL none)
  AUDIT_CHECKPOINT_INTERVAL  how often the workers checkpoint the audit chain's head (default 1h)
  OUTBOX_RETENTION   how long processed outbox records are kept before the workers delete them
                     (default 720h, 30 days; 24h or more)
  AWS_ENDPOINT_URL_S3  S3 endpoint override for BLOB_URL (S3-compatible services; path-style)

Notifications (providers in fallback order, comma-separated; default console, which prints a
redacted line per message and records it sent, warned of at startup on PostgreSQL;
CONSOLE_SHOW_BODY=true prints the text too, default false):
  SMS_PROVIDERS      twilio, sns, console        PUSH_PROVIDERS  fcm, console
  EMAIL_PROVIDERS    smtp, console               (none, alone, disables a channel)
  TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID, TWILIO_BASE_URL
  PUBLIC_URL         the public base URL of this API: Twilio status callbacks, webhook signatures,
                     escalation links and FHIR fullUrls.
                     The Twilio webhooks (inbound SMS, status callbacks) are on whenever
                     TWILIO_AUTH_TOKEN and PUBLIC_URL are both set, twilio in SMS_PROVIDERS or not
  SNS_REGION, SNS_ENDPOINT, SNS_SENDER_ID        (AWS credentials from the default chain)
  FCM_PROJECT_ID, FCM_SERVICE_ACCOUNT_FILE (or FCM_SERVICE_ACCOUNT_JSON), FCM_BASE_URL, FCM_TOKEN_URL
  SMTP_ADDR (host:587, STARTTLS required), SMTP_USERNAME, SMTP_PASSWORD, SMTP_FROM
  WEBHOOK_SECRET     signs care-team webhooks (escalations); the webhook channel is off without it (policies with a webhook level are refused)
  WEBHOOK_ALLOW_HTTP true lets escalation policies post to http:// URLs (default false: https only)
  WEBHOOK_ALLOW_PRIVATE true lets them post to loopback, private and link-local addresses (default false:
                     public addresses only, checked when connecting)
  <PROVIDER>_RATE    sends per second per provider, e.g. TWILIO_RATE=100 (default and 0: unlimited);
                     CONSOLE_RATE, TWILIO_RATE, SNS_RATE, FCM_RATE, SMTP_RATE are each checked at start,
                     the provider configured or not
  NOTIFY_BREAKER_FAILURES, NOTIFY_BREAKER_COOLDOWN, NOTIFY_ATTEMPT_TIMEOUT   (5, 10s, 10s; each above 0)
Secrets, and every setting above but OTEL_*, PPROF_ADDR and GOGC, may be given as NAME_FILE (for example
DATABASE_URL_FILE); a file that cannot be read or is empty, or a value out of range, fails startup.

Run 'adherence <command> --help' for a command's flags.
`

// run is the whole program; main only wires the process to it, so tests
// call run directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		// A usage error: the usage goes with the error, to stderr.
		fmt.Fprint(stderr, usage)
		return errors.New("a command is required")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, getenv, stdout, stderr, true)
	case "worker":
		return cmdServe(ctx, rest, getenv, stdout, stderr, false)
	case "migrate":
		return cmdMigrate(ctx, rest, getenv, stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(ctx, rest, getenv, stdout, stderr)
	case "admin":
		return group("an", "admin", rest, adminUsage, stderr, map[string]func([]string) error{
			"bootstrap":  func(a []string) error { return cmdBootstrap(ctx, a, getenv, stdout, stderr) },
			"create-key": func(a []string) error { return cmdCreateKey(ctx, a, getenv, stdout, stderr) },
		})
	case "schedule":
		return group("a", "schedule", rest, scheduleUsage, stderr, map[string]func([]string) error{
			"preview": func(a []string) error { return cmdSchedulePreview(ctx, a, getenv, stdin, stdout, stderr) },
		})
	case "audit":
		return group("an", "audit", rest, auditUsage, stderr, map[string]func([]string) error{
			"verify":     func(a []string) error { return cmdAuditVerify(ctx, a, getenv, stdout, stderr) },
			"checkpoint": func(a []string) error { return cmdAuditCheckpoint(ctx, a, getenv, stdout, stderr) },
			"restored":   func(a []string) error { return cmdAuditRestored(ctx, a, getenv, stdout, stderr) },
		})
	case "report":
		return cmdReport(ctx, rest, getenv, stdin, stdout, stderr)
	case "backup":
		return cmdBackup(ctx, rest, getenv, stdout, stderr)
	case "restore":
		return cmdRestore(ctx, rest, getenv, stdout, stderr)
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

const (
	adminUsage = `Usage: adherence admin <command> [flags]

Commands:
  bootstrap    create an organization and print its first admin API key
  create-key   print a new admin API key for an existing organization (recovery)

Run 'adherence admin <command> --help' for a command's flags.
`
	scheduleUsage = `Usage: adherence schedule <command> [flags]

Commands:
  preview      print the dose times a FHIR Timing produces

Run 'adherence schedule <command> --help' for a command's flags.
`
	auditUsage = `Usage: adherence audit <command> [flags]

Commands:
  verify       check the audit trail's hash chain, and that it still holds every checkpoint in BLOB_URL
  checkpoint   copy the chain's head to BLOB_URL now (the workers do it every AUDIT_CHECKPOINT_INTERVAL)
  restored     record that the database was restored to an earlier point (a backup, a PITR), so that
               the checkpoints of the chain it abandoned are set aside; --reason TEXT is required

Run 'adherence audit <command> --help' for a command's flags.
`
)

// group runs the subcommand of a command group (admin, schedule, audit)
// named by args[0]. --help prints the group's usage and succeeds; no or an
// unknown subcommand prints it and fails. article is the one name takes
// ("a schedule", "an admin") in the messages.
func group(article, name string, args []string, usage string, stderr io.Writer, cmds map[string]func([]string) error) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%s %s command is required", article, name)
	}
	if c, ok := cmds[args[0]]; ok {
		return c(args[1:])
	}
	fmt.Fprint(stderr, usage)
	switch args[0] {
	case "-h", "-help", "--help", "help":
		return flag.ErrHelp
	}
	return fmt.Errorf("unknown %s command %q", name, args[0])
}

// parseFlags parses a command's flags and refuses arguments left over: no
// command takes any, and a bool flag given its value after a
// space (`serve --workers false`) leaves that value as one, which would
// otherwise be ignored.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// newFlags returns a FlagSet that prints its usage to stderr and returns
// errors instead of exiting.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: adherence %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}
