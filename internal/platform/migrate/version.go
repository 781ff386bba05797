package migrate

import (
	"context"
	"fmt"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// Newer reports whether d holds a migration of sets that this binary does
// not have: a database written by a newer version of the product, which
// this one must not serve or replace another with (a restore).
func Newer(ctx context.Context, d *db.DB, sets ...Set) (bool, error) {
	for _, set := range sets {
		p, err := set.Provider(d)
		if err != nil {
			return false, err
		}
		current, target, err := p.GetVersions(ctx)
		if err != nil {
			return false, fmt.Errorf("read the schema version: %w", err)
		}
		if current > target {
			return true, nil
		}
	}
	return false, nil
}
