package report

import (
	"slices"
	"strings"
)

// ClassKey returns the key that identifies a drug class: its name without
// surrounding space, lower-cased. Plans are typed in by hand, so
// "Diabetes", "diabetes " and "DIABETES" name one class and must not split
// a patient's fills into several PDCs.
func ClassKey(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}

// Class is one drug class of a patient, with the fills of all its plans.
type Class struct {
	// Name is the class as the first plan added to it spells it, without
	// surrounding space. Callers add plans in creation order, so this is
	// the spelling of the oldest plan: deterministic, and still a name a
	// plan actually carries (lower-casing would turn "RASA" into "rasa").
	Name string
	// Drugs are the distinct drugs of the class's plans, sorted.
	Drugs []string
	// Fills are the fills of the class's plans, in the order added.
	Fills []Fill
}

// Classes groups a patient's plans and their fills by drug class, comparing
// class names with ClassKey. The zero value is ready to use.
type Classes struct {
	byKey map[string]*Class
	drugs map[string]map[string]bool // ClassKey → set of drugs
}

// Add adds a plan of class name whose drug is drug, with its fills. A plan
// without fills still adds its drug to the class, so that a class without
// a fill in the period is reported.
func (c *Classes) Add(name, drug string, fills []Fill) {
	key := ClassKey(name)
	if c.byKey == nil {
		c.byKey, c.drugs = map[string]*Class{}, map[string]map[string]bool{}
	}
	cl := c.byKey[key]
	if cl == nil {
		cl = &Class{Name: strings.TrimSpace(name)}
		c.byKey[key], c.drugs[key] = cl, map[string]bool{}
	}
	if !c.drugs[key][drug] {
		c.drugs[key][drug] = true
		cl.Drugs = append(cl.Drugs, drug)
	}
	cl.Fills = append(cl.Fills, fills...)
}

// List returns the classes sorted by name. Names are distinct: equal
// names have equal keys.
func (c *Classes) List() []Class {
	out := make([]Class, 0, len(c.byKey))
	for _, cl := range c.byKey {
		v := *cl
		v.Drugs = slices.Sorted(slices.Values(cl.Drugs))
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Class) int { return strings.Compare(a.Name, b.Name) })
	return out
}
