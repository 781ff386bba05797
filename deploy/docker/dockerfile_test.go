// Package docker_test checks the product images' Dockerfiles against the
// repository: no Docker engine runs where the tests run, so what can be
// checked is what the files say.
package docker_test

import (
	"os"
	"strings"
	"testing"
)

// finalStage returns the instructions of the Dockerfile's last stage, one
// per line, comments dropped.
func finalStage(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stage []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			stage = nil
		}
		stage = append(stage, line)
	}
	return stage
}

// TestImageWorkdirNotWritable: the images run as nonroot on a distroless
// base whose working directory, /home/nonroot, nonroot can write. Without
// a WORKDIR of their own, a task started without DATABASE_URL created the
// embedded SQLite database there, on the container's disk, and served
// from it (PHI lost with the task, each task its own data), where the
// Dockerfiles promise that serve fails naming DATABASE_URL. The final
// stage must set WORKDIR / (not writable by nonroot), and run the binary
// it built.
func TestImageWorkdirNotWritable(t *testing.T) {
	for _, product := range []string{"adherence", "medsales"} {
		t.Run(product, func(t *testing.T) {
			stage := finalStage(t, product+".Dockerfile")
			if len(stage) == 0 || !strings.HasSuffix(stage[0], ":nonroot") {
				t.Fatalf("final stage starts %q, want a nonroot base image", stage)
			}
			workdir := ""
			for _, ins := range stage {
				if w, ok := strings.CutPrefix(ins, "WORKDIR "); ok {
					workdir = strings.TrimSpace(w)
				}
			}
			if workdir != "/" {
				t.Errorf("final stage WORKDIR is %q, want / (the base image's /home/nonroot is writable by nonroot)", workdir)
			}
			for _, want := range []string{
				"COPY --from=build /out/" + product + " /" + product,
				`ENTRYPOINT ["/` + product + `"]`,
				`CMD ["/` + product + `", "healthcheck"]`,
			} {
				found := false
				for _, ins := range stage {
					found = found || strings.Contains(ins, want)
				}
				if !found {
					t.Errorf("final stage lacks %s", want)
				}
			}
		})
	}
}
