// Command medsales is the Medical Sales Intelligence & CRM: the API server,
// its background workers and the operator commands that load the public
// provider datasets. Run `medsales --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
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
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		if !errors.Is(err, errSilent) {
			fmt.Fprintln(os.Stderr, "medsales:", err)
		}
		os.Exit(1)
	}
}

// errSilent ends the process with status 1 after the command already
// printed what went wrong (healthcheck).
var errSilent = errors.New("failed")

const usage = `medsales — Medical Sales Intelligence & CRM

Usage: medsales <command> [flags]

Commands:
  serve              run the HTTP API (and the job workers unless --workers=false)
  worker             run the job workers only
  migrate            apply database migrations and exit
  healthcheck        exit 0 if the local server is ready, 1 otherwise
  ingest DATASET SOURCE
                     load a dataset file (local path, s3:// or https://; .zip read in place)
  datasets           show what is loaded and the load history
  sample             write sample files in the real dataset formats
  geocode            geocode practice addresses with the Census batch geocoder

Datasets: nppes, nppes-locations, nppes-othernames, nppes-endpoints, nucc, partb,
partd, openpayments, zcta.

Configuration comes from flags and environment variables:
  DATABASE_URL       postgres://… or sqlite:path (default sqlite:data/medsales.db)
                     (a SQLite URL takes no ?query and no '#': write them %3F, %23 in a file name)
  LISTEN_ADDR        HTTP listen address (default :8081)
  LOG_LEVEL          debug, info, warn, error (default info)
  INGEST_API_TOKEN   bearer token that POST /v1/ingestions requires (unset: disabled); 10 wrong
                     tokens from one client address lock it out for a minute
  TRUSTED_PROXIES    load balancers (IPs or CIDRs, comma-separated) whose X-Forwarded-For names the
                     client for that lock-out and the logs (default none)
  INGEST_ALLOWED_SOURCES  comma-separated prefixes API-queued sources must start with (default s3://)
  INGEST_SCHEDULE    periodic loads run by the workers: "DATASET SOURCE EVERY [always] [year=YYYY]; …",
                     e.g. "nppes s3://drop/nppes-weekly.zip 168h" (each also runs once at start; skipped
                     while the source is unchanged unless "always"; year= gives the data year)
  REJECTS_DIR        where rejected rows are written (default data/rejects); must be writable by the workers and ingest
  GEOCODER_URL       Census geocoder base URL (default https://geocoding.geo.census.gov)
  AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_ACCESS_KEY_ID …   s3:// sources (S3-compatible endpoints allowed)
  OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME         tracing (off when unset)
  SHUTDOWN_DRAIN     time readiness fails before the listener closes (default 5s; 0s or more)
  REQUEST_TIMEOUT    deadline of each HTTP request; past it a stalled database read answers 503 (default 30s)
  PPROF_ADDR         serve Go profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6060 (default off)
Secrets, and every setting above but PPROF_ADDR, OTEL_* and AWS_* other than AWS_ENDPOINT_URL_S3, may be
given as NAME_FILE (for example DATABASE_URL_FILE); a file that cannot be read or is empty fails startup.

Run 'medsales <command> --help' for a command's flags.
`

// run is the whole program; main only wires the process to it, so tests
// call run directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		// A mistake, as an unknown command is: the usage goes with the
		// error, to stderr.
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
	case "ingest":
		return cmdIngest(ctx, rest, getenv, stdout, stderr)
	case "datasets":
		return cmdDatasets(ctx, rest, getenv, stdout, stderr)
	case "sample":
		return cmdSample(ctx, rest, getenv, stdout, stderr)
	case "geocode":
		return cmdGeocode(ctx, rest, getenv, stdout, stderr)
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// newFlags returns a FlagSet that prints its usage to stderr and returns
// errors instead of exiting. The parser's own copy of a parse error is
// discarded: main prints the returned error, once.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: medsales %s\n\n", synopsis)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlagsOnly parses args for a command that takes flags only. An
// argument that is not a flag is refused: the parser stops at it, so the
// flags after it would be silently ignored.
func parseFlagsOnly(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%s takes no arguments: unexpected %q (flags after it would be ignored)", fs.Name(), fs.Arg(0))
	}
	return nil
}
