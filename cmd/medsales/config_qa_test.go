package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// TestSettingsFailStartup checks that serve refuses an out-of-range or
// unreadable setting with an error naming the variable, instead of
// starting with it.
func TestSettingsFailStartup(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33"}, "TRUSTED_PROXIES: \"10.0.0.0/33\" is not an IP address or CIDR network"},
		{map[string]string{"SHUTDOWN_DRAIN": "-1s"}, "SHUTDOWN_DRAIN must be 0s or more"},
		{map[string]string{"SHUTDOWN_DRAIN_FILE": missing}, "read SHUTDOWN_DRAIN_FILE: open " + missing},
		{map[string]string{"LOG_LEVEL": "verbose"}, "LOG_LEVEL: "},
		{map[string]string{"REQUEST_TIMEOUT": "0s"}, "REQUEST_TIMEOUT must be more than 0s"},
		{map[string]string{"REQUEST_TIMEOUT": "-5s"}, "REQUEST_TIMEOUT must be more than 0s"},
		// Malformed endpoints failed only when a load or a geocoding run used them.
		{map[string]string{"AWS_ENDPOINT_URL_S3": "notaurl"}, "AWS_ENDPOINT_URL_S3 must be an absolute http(s) URL"},
		{map[string]string{"AWS_ENDPOINT_URL_S3": "ftp://minio:9000"}, "AWS_ENDPOINT_URL_S3 must be an absolute http(s) URL"},
		{map[string]string{"GEOCODER_URL": "geocoding.geo.census.gov"}, "GEOCODER_URL must be an absolute http(s) URL"},
		{map[string]string{"GEOCODER_URL": "https://"}, "GEOCODER_URL must be an absolute http(s) URL"},
		// No prefix at all: the server started and refused every source.
		{map[string]string{"INGEST_ALLOWED_SOURCES": " , "}, "INGEST_ALLOWED_SOURCES names no prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			vars := map[string]string{"DATABASE_URL": "sqlite:" + dbtest.URIPath(filepath.Join(t.TempDir(), "m.db"))}
			for k, v := range tt.env {
				vars[k] = v
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			err := run(ctx, []string{"serve", "--addr", freeAddr(t)}, func(k string) string { return vars[k] }, nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("serve with %v: err = %v, want it to contain %q", tt.env, err, tt.want)
			}
		})
	}
}

// TestWorkersRefuseAnUnmigratedDatabase checks that serve and worker with
// --migrate=false on a database without the schema fail in one line
// naming the fix, instead of River's "no such table: river_queue".
func TestWorkersRefuseAnUnmigratedDatabase(t *testing.T) {
	for _, args := range [][]string{{"serve", "--migrate=false"}, {"worker", "--migrate=false"}} {
		vars := map[string]string{"DATABASE_URL": "sqlite:" + dbtest.URIPath(filepath.Join(t.TempDir(), "m.db")), "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := run(ctx, append(args, "--addr", freeAddr(t)), func(k string) string { return vars[k] }, nil, io.Discard, io.Discard)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "migrations pending: run 'medsales migrate' first") {
			t.Errorf("%v on an empty database: err = %v, want the pending migrations named", args, err)
		}
	}
}

// TestServeNegativeSample checks that `serve --sample -5` is refused, as
// `sample --providers -5` is; it started serving without a sample.
func TestServeNegativeSample(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": "sqlite:" + dbtest.URIPath(filepath.Join(t.TempDir(), "m.db")), "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var stderr strings.Builder
	err := run(ctx, []string{"serve", "--sample", "-5", "--addr", freeAddr(t)}, func(k string) string { return vars[k] }, nil, io.Discard, &stderr)
	if err == nil || !strings.HasPrefix(err.Error(), "--sample: must be a number of providers") || !strings.Contains(err.Error(), `got "-5"`) {
		t.Errorf("serve --sample -5: err = %v, want --sample refused with the value quoted", err)
	}
	if !strings.Contains(stderr.String(), "Usage: medsales serve") {
		t.Errorf("serve --sample -5 printed no usage on stderr: %q", stderr.String())
	}
}

// TestWorkersRefuseWithoutCreatingTheDatabase: serve and worker with
// --migrate=false on a fresh embedded default (no database file yet)
// refuse without creating the file or its directory; they created an
// empty ./data/medsales.db before refusing. A later serve still creates
// and migrates it.
func TestWorkersRefuseWithoutCreatingTheDatabase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	file := filepath.Join(dir, "medsales.db")
	vars := map[string]string{"DATABASE_URL": "sqlite:" + dbtest.URIPath(file), "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}
	for _, args := range [][]string{{"serve", "--migrate=false"}, {"worker", "--migrate=false"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := run(ctx, append(args, "--addr", freeAddr(t)), func(k string) string { return vars[k] }, nil, io.Discard, io.Discard)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "migrations pending: run 'medsales migrate' first") || !strings.Contains(err.Error(), file) {
			t.Errorf("%v without a database: err = %v, want the pending migrations and the file named", args, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%v left %s behind (%v)", args, dir, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := run(ctx, []string{"serve", "--addr", freeAddr(t)}, func(k string) string { return vars[k] }, nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("serve did not create the database: %v", err)
	}
}

// TestBadSettingsCreateNoDatabase checks that serve and worker read every
// setting that needs no database before opening it: a bad one used to fail
// only after ./data/medsales.db had been created and migrated, leaving an
// empty database behind.
func TestBadSettingsCreateNoDatabase(t *testing.T) {
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"REQUEST_TIMEOUT": "soon"}, nil, "REQUEST_TIMEOUT"},
		{map[string]string{"REQUEST_TIMEOUT": "0s"}, nil, "REQUEST_TIMEOUT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "::bad"}, nil, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{nil, []string{"--addr", "nowhere"}, "--addr or LISTEN_ADDR"},
		{map[string]string{"LISTEN_ADDR": "nowhere"}, []string{}, "--addr or LISTEN_ADDR"},
		// Refused only after migrations had run (QA), or not at all.
		{map[string]string{"PPROF_ADDR": "bogus"}, nil, "PPROF_ADDR"},
		{map[string]string{"PPROF_ADDR": "127.0.0.1:99999"}, nil, "PPROF_ADDR"},
		{map[string]string{"GOGC": "5%"}, nil, "GOGC must be"},
		{map[string]string{"INGEST_ALLOWED_SOURCES": "s3://drop/,ftp://ftp.cms.gov/"}, nil, `INGEST_ALLOWED_SOURCES: prefix ftp://ftp.cms.gov/ allows no source: unsupported scheme "ftp"`},
	}
	for _, cmd := range []string{"serve", "worker"} {
		for _, c := range cases {
			dir := filepath.Join(t.TempDir(), "data")
			vars := map[string]string{"DATABASE_URL": "sqlite:" + dbtest.URIPath(filepath.Join(dir, "medsales.db")), "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}
			for k, v := range c.env {
				vars[k] = v
			}
			args := c.args
			if args == nil {
				args = []string{"--addr", freeAddr(t)}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := run(ctx, append([]string{cmd}, args...), func(k string) string { return vars[k] }, nil, io.Discard, io.Discard)
			cancel()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s %v with %v: err = %v, want %s named", cmd, args, c.env, err, c.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s %v with %v left %s behind (%v)", cmd, args, c.env, dir, err)
			}
		}
	}
}
