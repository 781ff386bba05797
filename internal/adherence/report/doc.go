// Package report computes adherence measures from pharmacy fills — the
// Proportion of Days Covered (PDC) per the PQA / CMS Star method, with the
// medication possession ratio (MPR) alongside for comparison only.
//
// It is pure computation over values the caller supplies: no database, no
// clock, no I/O. [PDC] takes the fills of one patient and one drug class and
// a measurement period of civil [Date] values:
//
//   - the treatment period runs from the index date (the first fill dated
//     inside the measurement period) to the period end, inclusive; fills
//     dated before the start or after the end are ignored;
//   - each fill covers DaysSupply consecutive days from its date;
//   - a refill of the same drug (same active ingredient) that starts before
//     that drug's previous supply ends is shifted to the day after it ends,
//     and shifts accumulate along each drug's fills in date order;
//   - fills of different drugs are not shifted against each other; a day
//     covered by several drugs counts once;
//   - coverage past the period end is dropped, so the PDC never exceeds 1.
//
// [Classes] gathers a patient's plans and fills by drug class, comparing
// class names with [ClassKey] (ignoring letter case and surrounding space)
// and naming each class as its first plan spells it.
//
// A patient is in the measure's denominator (eligible) with at least two
// fills on different dates inside the period and a treatment period of at
// least 91 days; the PDC of the others is still computed, for information.
// PDC and MPR are rounded to 4 decimals for display; an eligible patient is
// adherent when the exact PDC (covered days / days) is at least the
// threshold ([DefaultThreshold], or [AntiretroviralThreshold] for
// antiretrovirals).
package report
