package ingest

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/health"
)

// MaxAge is how old each dataset's last load may be before /health shows
// dataFreshness DOWN: a little more than the publisher's release cycle.
var MaxAge = map[medsales.Dataset]time.Duration{
	medsales.NPPES:           40 * 24 * time.Hour, // monthly full file (weekly increments in between)
	medsales.NPPESLocations:  40 * 24 * time.Hour,
	medsales.NPPESOtherNames: 40 * 24 * time.Hour,
	medsales.NPPESEndpoints:  40 * 24 * time.Hour,
	medsales.NUCC:            200 * 24 * time.Hour, // twice a year
	medsales.PartB:           400 * 24 * time.Hour, // yearly
	medsales.PartD:           400 * 24 * time.Hour,
	medsales.OpenPayments:    400 * 24 * time.Hour, // yearly, refreshed in January
}

// FreshnessCheck is the /health component "dataFreshness": per loaded
// dataset its lastIngested, recordCount, dataYear and sourceFile. It is
// not critical (stale reference data must not take the API out of the load
// balancer) and shows DOWN when a loaded dataset is older than MaxAge.
func FreshnessCheck(st *store.Store, now func() time.Time) health.Check {
	return health.Check{Name: "dataFreshness", Run: func(ctx context.Context) (map[string]any, error) {
		latest, err := st.LatestLoads(ctx)
		if err != nil {
			return nil, err
		}
		details := map[string]any{}
		var stale []string
		for d, f := range latest {
			details[string(d)] = f
			if max, ok := MaxAge[d]; ok && now().Sub(f.LastIngested) > max {
				stale = append(stale, string(d))
			}
		}
		if len(stale) > 0 {
			return details, errors.New("stale datasets: " + strings.Join(stale, ", "))
		}
		return details, nil
	}}
}
