// Package deploy_test checks the deployment files of deploy/ against the
// products. No Docker engine runs where the tests run, so the stack of
// compose.yaml is run here without containers: each service's command,
// with the service's environment, by the binary its Dockerfile builds,
// against the test PostgreSQL and Redis; Prometheus's targets are checked
// against the services' listeners and the Grafana dashboards' queries
// against promtool and the metrics the code defines.
package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

var products = []string{"adherence", "medsales"}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Volumes []any `yaml:"volumes"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

// service returns the named service of c, failing the test without it.
func service(t *testing.T, c composeFile, name string) composeService {
	t.Helper()
	s, ok := c.Services[name]
	if !ok {
		t.Fatalf("compose.yaml has no service %q", name)
	}
	return s
}

// listenPort is the port of a service's LISTEN_ADDR (":8080").
func listenPort(t *testing.T, name string, s composeService) string {
	t.Helper()
	_, port, err := net.SplitHostPort(s.Environment["LISTEN_ADDR"])
	if err != nil || port == "" {
		t.Fatalf("service %s: LISTEN_ADDR %q is not host:port", name, s.Environment["LISTEN_ADDR"])
	}
	return port
}

// volumeTargets lists where a service's volumes are mounted.
func volumeTargets(s composeService) []string {
	var out []string
	for _, v := range s.Volumes {
		switch v := v.(type) {
		case string: // SOURCE:TARGET[:MODE]
			if parts := strings.Split(v, ":"); len(parts) >= 2 {
				out = append(out, parts[1])
			}
		case map[string]any:
			if target, ok := v["target"].(string); ok {
				out = append(out, target)
			}
		}
	}
	return out
}

// TestComposeShape: each product is a migration task, an API service that
// runs no job workers and a worker service, both started only once the
// migrations succeeded and refusing a schema that is behind; the images
// are built from the Dockerfiles of deploy/docker; the databases they
// connect to exist in the stack's PostgreSQL and the Redis is the stack's.
func TestComposeShape(t *testing.T) {
	c := readCompose(t)
	pg := service(t, c, "postgres")
	init, err := os.ReadFile("postgres/01-medsales.sql")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(volumeTargets(pg), "/docker-entrypoint-initdb.d/01-medsales.sql") {
		t.Errorf("postgres does not mount postgres/01-medsales.sql into /docker-entrypoint-initdb.d: %v", pg.Volumes)
	}
	databases := map[string]bool{pg.Environment["POSTGRES_DB"]: true}
	for _, m := range regexp.MustCompile(`(?i)CREATE DATABASE (\w+)`).FindAllStringSubmatch(string(init), -1) {
		databases[m[1]] = true
	}
	for _, p := range products {
		migrateSvc := service(t, c, p+"-migrate")
		api := service(t, c, p+"-api")
		worker := service(t, c, p+"-worker")
		if got := strings.Join(migrateSvc.Command, " "); got != "migrate" {
			t.Errorf("%s-migrate runs %q, want migrate", p, got)
		}
		if got := strings.Join(api.Command, " "); got != "serve --workers=false --migrate=false" {
			t.Errorf("%s-api runs %q, want serve --workers=false --migrate=false", p, got)
		}
		if got := strings.Join(worker.Command, " "); got != "worker --migrate=false" {
			t.Errorf("%s-worker runs %q, want worker --migrate=false", p, got)
		}
		if got := migrateSvc.DependsOn["postgres"].Condition; got != "service_healthy" {
			t.Errorf("%s-migrate waits for postgres %q, want service_healthy", p, got)
		}
		for name, s := range map[string]composeService{p + "-migrate": migrateSvc, p + "-api": api, p + "-worker": worker} {
			if s.Build == nil || s.Build.Dockerfile != "deploy/docker/"+p+".Dockerfile" {
				t.Errorf("%s is not built from deploy/docker/%s.Dockerfile: %+v", name, p, s.Build)
			} else if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			u, err := url.Parse(s.Environment["DATABASE_URL"])
			if err != nil || u.Scheme != "postgres" || u.Host != "postgres:5432" || !databases[strings.TrimPrefix(u.Path, "/")] {
				t.Errorf("%s: DATABASE_URL %q is not a database of the postgres service (it creates %v)", name, s.Environment["DATABASE_URL"], databases)
			}
			if r, ok := s.Environment["REDIS_URL"]; ok {
				service(t, c, "redis")
				if u, err := url.Parse(r); err != nil || u.Host != "redis:6379" {
					t.Errorf("%s: REDIS_URL %q is not the redis service", name, r)
				}
			}
			if dir, ok := s.Environment["REJECTS_DIR"]; ok {
				mounted := false
				for _, target := range volumeTargets(s) {
					mounted = mounted || dir == target || strings.HasPrefix(dir, strings.TrimSuffix(target, "/")+"/")
				}
				if !mounted {
					t.Errorf("%s: REJECTS_DIR %s is on no volume (the image's file system is not writable): %v", name, dir, s.Volumes)
				}
			}
		}
		for name, s := range map[string]composeService{p + "-api": api, p + "-worker": worker} {
			if got := s.DependsOn[p+"-migrate"].Condition; got != "service_completed_successfully" {
				t.Errorf("%s waits for %s-migrate %q, want service_completed_successfully", name, p, got)
			}
		}
		port := listenPort(t, p+"-api", api)
		if len(api.Ports) != 1 || api.Ports[0] != "127.0.0.1:"+port+":"+port {
			t.Errorf("%s-api publishes %v, want 127.0.0.1:%s:%s (its LISTEN_ADDR, on loopback only)", p, api.Ports, port, port)
		}
	}
	if c.Services["medsales-worker"].Environment["REJECTS_DIR"] == "" {
		t.Error("medsales-worker sets no REJECTS_DIR: the default, data/rejects under /, is not writable in the image and the worker would refuse to start")
	}
}

type prometheusConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// TestPrometheusScrapesEveryService: prometheus.yml scrapes each API and
// worker service of compose.yaml on its LISTEN_ADDR port under the job
// name <service> (the alerts and dashboards group by job), loads the
// alert rules, and compose.yaml mounts both files where the config says.
func TestPrometheusScrapesEveryService(t *testing.T) {
	c := readCompose(t)
	b, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg prometheusConfig
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	prom := service(t, c, "prometheus")
	for _, rf := range cfg.RuleFiles {
		if _, err := os.Stat(filepath.Join("prometheus", rf)); err != nil {
			t.Errorf("rule file: %v", err)
		}
		if !slices.Contains(volumeTargets(prom), "/etc/prometheus/"+rf) {
			t.Errorf("compose.yaml does not mount %s into /etc/prometheus", rf)
		}
	}
	if !slices.Contains(cfg.RuleFiles, "alerts.yml") {
		t.Errorf("prometheus.yml loads %v, not alerts.yml", cfg.RuleFiles)
	}
	scraped := map[string]string{}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("job %s scrapes %s, the services serve /metrics", sc.JobName, sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, err := net.SplitHostPort(target)
				if err != nil {
					t.Fatalf("job %s: target %q: %v", sc.JobName, target, err)
				}
				s := service(t, c, host)
				if want := listenPort(t, host, s); port != want {
					t.Errorf("job %s scrapes %s on port %s, the service listens on %s", sc.JobName, host, port, want)
				}
				if sc.JobName != host {
					t.Errorf("job %s scrapes service %s: the job is named after the service", sc.JobName, host)
				}
				scraped[host] = sc.JobName
			}
		}
	}
	for _, p := range products {
		for _, name := range []string{p + "-api", p + "-worker"} {
			if _, ok := scraped[name]; !ok {
				t.Errorf("prometheus.yml does not scrape %s", name)
			}
		}
	}
}

// TestComposeStackRuns runs each product's services as compose.yaml does
// (the migration task, then the API and the worker with --migrate=false)
// with their environment, the stack's host names pointed at the test
// PostgreSQL and Redis and the ports at free local ones: the commands and
// flags exist, the services start on the migrated database and become
// ready, and the port Prometheus scrapes serves the product's metrics.
func TestComposeStackRuns(t *testing.T) {
	redisURL := os.Getenv("REDIS_URL")
	if redisURL == "" {
		t.Skip("REDIS_URL not set: skipping the stack")
	}
	c := readCompose(t)
	binDir := t.TempDir()
	for _, p := range products {
		pgURL := dbtest.PostgresURL(t) // skips without TEST_DATABASE_URL
		bin := filepath.Join(binDir, p)
		build := exec.Command("go", "build", "-o", bin, "./cmd/"+p)
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/%s: %v\n%s", p, err, out)
		}
		envOf := func(name string) []string {
			s := service(t, c, name)
			env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
			for k, v := range s.Environment {
				switch k {
				case "DATABASE_URL":
					v = pgURL
				case "REDIS_URL":
					v = redisURL
				case "LISTEN_ADDR":
					v = freeAddr(t)
				case "REJECTS_DIR":
					v = filepath.Join(t.TempDir(), "rejects")
				}
				env = append(env, k+"="+v)
			}
			return env
		}
		migrateSvc := service(t, c, p+"-migrate")
		cmd := exec.Command(bin, migrateSvc.Command...)
		cmd.Env, cmd.Dir = envOf(p+"-migrate"), t.TempDir()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s-migrate: %v\n%s", p, err, out)
		}
		oneOff(t, p, bin, envOf)
		for _, name := range []string{p + "-api", p + "-worker"} {
			env := envOf(name)
			var addr string
			for _, kv := range env {
				if v, ok := strings.CutPrefix(kv, "LISTEN_ADDR="); ok {
					addr = v
				}
			}
			metrics := startService(t, name, bin, service(t, c, name).Command, env, "http://"+addr)
			// The job-queue collector runs on every process of a product
			// (API and worker): it is in the first scrape.
			if want := "\n" + p + "_job_queue_depth{"; !strings.Contains("\n"+metrics, want) {
				t.Errorf("%s: /metrics has no %s series:\n%s", name, strings.TrimSpace(want), metrics)
			}
		}
	}
}

// oneOff runs the one-off commands the header of compose.yaml shows, as
// `docker compose run` would (the service's environment, another
// command): adherence's first admin key through the migration task's
// service, and a medsales load of a file through the worker's, whose
// rejects go to its REJECTS_DIR.
func oneOff(t *testing.T, product, bin string, envOf func(service string) []string) {
	t.Helper()
	var args []string
	var env []string
	want := ""
	switch product {
	case "adherence":
		args, env, want = []string{"admin", "bootstrap", "--org", "Demo Care"}, envOf("adherence-migrate"), "admin_key=mpk_"
	case "medsales":
		files := t.TempDir()
		sample := exec.Command(bin, "sample", "--out", files, "--providers", "20")
		sample.Env, sample.Dir = envOf("medsales-worker"), t.TempDir()
		if out, err := sample.CombinedOutput(); err != nil {
			t.Fatalf("medsales sample: %v\n%s", err, out)
		}
		args, env, want = []string{"ingest", "--progress", "none", "nucc", filepath.Join(files, "nucc_taxonomy_251.csv")}, envOf("medsales-worker"), "loaded"
	}
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Dir = env, t.TempDir() // the image's working directory holds nothing either
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), want) {
		t.Fatalf("%s %s: %v, want output with %q:\n%s", product, strings.Join(args, " "), err, want, out)
	}
}

// startService starts bin with args and env, waits for base/readyz to
// answer 200, returns base/metrics and stops the process with SIGTERM when
// the test ends (it must exit 0).
func startService(t *testing.T, name, bin string, args, env []string, base string) string {
	t.Helper()
	var logs bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Dir = env, t.TempDir()
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("%s exited after SIGTERM: %v\n%s", name, err, logs.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("%s did not exit within 30 s of SIGTERM", name)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("%s exited before it was ready: %v\n%s", name, err, logs.String())
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 60 s (last: %v)\n%s", name, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("%s: GET /metrics: %v", name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET /metrics: %d %v", name, resp.StatusCode, err)
	}
	return string(b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr       string `json:"expr"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
}

// TestDashboards: each Grafana dashboard of deploy/grafana/dashboards is
// valid JSON with a unique uid and panel ids, queries the provisioned
// Prometheus datasource, every query is valid PromQL (promtool, as for
// the alert rules) and names only metrics the products define, so a
// renamed metric cannot leave a panel silently empty.
func TestDashboards(t *testing.T) {
	b, err := os.ReadFile("grafana/provisioning/datasources/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &ds); err != nil || len(ds.Datasources) != 1 {
		t.Fatalf("datasources: %v (%d)", err, len(ds.Datasources))
	}
	if ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("the datasource is %s, not the stack's Prometheus", ds.Datasources[0].URL)
	}
	uid := ds.Datasources[0].UID
	known := definedMetrics(t)

	files, err := filepath.Glob("grafana/dashboards/*.json")
	if err != nil || len(files) != len(products) {
		t.Fatalf("dashboards: %v %v, want one per product", files, err)
	}
	uids := map[string]bool{}
	var exprs []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.UID == "" || uids[d.UID] {
			t.Errorf("%s: uid %q empty or used twice", f, d.UID)
		}
		uids[d.UID] = true
		ids := map[int]bool{}
		queries := 0
		for _, p := range d.Panels {
			if ids[p.ID] {
				t.Errorf("%s: panel id %d used twice", f, p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != uid || len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query of datasource %q", f, p.Title, uid)
			}
			for _, q := range p.Targets {
				queries++
				if q.Datasource == nil || q.Datasource.UID != uid {
					t.Errorf("%s: panel %q: a query not of datasource %q", f, p.Title, uid)
				}
				exprs = append(exprs, q.Expr)
				for _, m := range metricNames(q.Expr) {
					if !known[m] {
						t.Errorf("%s: panel %q: metric %s is not defined by the products", f, p.Title, m)
					}
				}
			}
		}
		if queries == 0 {
			t.Errorf("%s has no query", f)
		}
	}
	promtoolCheck(t, exprs)
}

// promtoolCheck parses every expression with promtool, as recording rules
// of a temporary rules file.
func promtoolCheck(t *testing.T, exprs []string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not found: .ci/run installs it (Debian package prometheus)")
		}
		t.Log("promtool not found: the dashboards' PromQL is not parsed (CI does)")
		return
	}
	rules := map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": func() []any {
		var out []any
		for i, e := range exprs {
			out = append(out, map[string]any{"record": fmt.Sprintf("dashboard:query%d", i), "expr": e})
		}
		return out
	}()}}}
	b, err := yaml.Marshal(rules)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "dashboards.rules.yml")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules of the dashboards' queries: %v\n%s", err, out)
	}
}

var (
	quoted     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	braces     = regexp.MustCompile(`\{[^}]*\}`)
	brackets   = regexp.MustCompile(`\[[^\]]*\]`)
	number     = regexp.MustCompile(`(?i)\b[0-9][0-9.]*(?:e[-+]?[0-9]+)?`)
	grouping   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(?`)
	keywords   = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}
)

// metricNames returns the metric names an expression selects: identifiers
// outside strings, label matchers, ranges, grouping clauses and numbers
// that are not functions or aggregations (followed by '(') or keywords.
func metricNames(expr string) []string {
	e := quoted.ReplaceAllString(expr, `""`)
	e = braces.ReplaceAllString(e, " ")
	e = brackets.ReplaceAllString(e, " ")
	e = grouping.ReplaceAllString(e, " ")
	e = number.ReplaceAllString(e, " ")
	var out []string
	for _, m := range identifier.FindAllString(e, -1) {
		if strings.HasSuffix(m, "(") || keywords[strings.ToLower(strings.TrimSpace(m))] {
			continue
		}
		out = append(out, strings.TrimSpace(m))
	}
	return out
}

// definedMetrics returns the metric names the products define: every
// string literal of the non-test Go files of cmd/ and internal/ that
// looks like a product or HTTP metric name (the job-queue collector's
// names are built from the product's namespace and a literal suffix), the
// series a histogram adds to its name, and the Go runtime and process
// collectors' names the dashboards use.
func definedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	literal := regexp.MustCompile(`"((?:adherence|medsales|http)_[a-z0-9_]+|_[a-z0-9_]+_(?:seconds|total|depth))"`)
	known := map[string]bool{"process_resident_memory_bytes": true, "go_goroutines": true}
	var suffixes []string
	for _, dir := range []string{"../cmd", "../internal"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
				if strings.HasPrefix(m[1], "_") {
					suffixes = append(suffixes, m[1])
					continue
				}
				known[m[1]] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range products {
		for _, s := range suffixes {
			known[p+s] = true
		}
	}
	for name := range known {
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			known[name+s] = true
		}
	}
	return known
}

// TestMetricNamesOfExpressions checks the parser the dashboard test relies
// on: it must find the metrics and only them.
func TestMetricNamesOfExpressions(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (job, route) (rate(http_requests_total{job=~"adherence-.*"}[5m]))`:                        {"http_requests_total"},
		`histogram_quantile(0.99, sum by (le) (rate(x_bucket{le="180"}[5m]))) / clamp_min(y_total, 1e-9)`: {"x_bucket", "y_total"},
		`(time() - medsales_ingest_last_success_timestamp_seconds) / 86400`:                               {"medsales_ingest_last_success_timestamp_seconds"},
		`sum(rate(a_total[10m])) or vector(0)`:                                                            {"a_total"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %v, want %v", expr, got, want)
		}
	}
}

// TestAlertRunbooks: every alert links to its section of
// docs/operations.md (runbook: docs/operations.md#<alert, lower case>),
// and that section exists, so an alert never pages without saying what
// to do.
func TestAlertRunbooks(t *testing.T) {
	b, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			headings[strings.TrimSpace(h)] = true
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if want := "docs/operations.md#" + strings.ToLower(r.Alert); r.Annotations["runbook"] != want {
				t.Errorf("alert %s: runbook %q, want %q", r.Alert, r.Annotations["runbook"], want)
			}
			if !headings[r.Alert] {
				t.Errorf("alert %s has no section (## %s) in docs/operations.md", r.Alert, r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alert found in alerts.yml")
	}
}
