package store

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestShortRefUniqueAndOpaque: patients created in the same minute get
// different references, and a reference holds none of the id's timestamp.
func TestShortRefUniqueAndOpaque(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := uuid.Must(uuid.NewV7()).String()
		ref := shortRef(id)
		if len(ref) < 8 {
			t.Fatalf("shortRef(%s) = %q: shorter than 8 characters", id, ref)
		}
		if seen[ref] {
			t.Fatalf("shortRef(%s) = %q: given twice", id, ref)
		}
		seen[ref] = true
		if ts := strings.ReplaceAll(id[:13], "-", ""); strings.Contains(ref, ts[:8]) {
			t.Fatalf("shortRef(%s) = %q reveals the creation time", id, ref)
		}
		if !strings.HasSuffix(id, ref) {
			t.Fatalf("shortRef(%s) = %q: not the end of the id", id, ref)
		}
	}
	if got := shortRef("patient-7"); len(got) != 12 || strings.Contains(got, "patient") {
		t.Errorf("shortRef of a non-UUID = %q", got)
	}
	if shortRef("") != "" {
		t.Error("shortRef of no patient is not empty")
	}
}
