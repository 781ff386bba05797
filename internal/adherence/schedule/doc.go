// Package schedule turns a FHIR R4 Timing into concrete dose instants for a
// patient.
//
// A Timing (MedicationRequest.dosageInstruction[].timing) is decoded strictly
// with [DecodeTiming], checked with [Timing.Validate] and expanded with
// [Expand] into [Dose] values: UTC instants, the wall time in the patient's
// IANA time zone, and a stable ordinal. [Preview] does all three for the CLI.
//
// # The rules
//
// Every schedule is evaluated in the patient's time zone (Params.Location)
// with the patient's anchor times (Params.Anchors: wake, breakfast, lunch,
// dinner, bed; the zero Anchors means [DefaultAnchors]).
//
// Kinds of schedule. A Timing holds either repeat or event, never both.
//
//   - event: each dateTime is a one-off dose. It must carry a time; one
//     without a UTC offset is a wall time in the patient's zone. Equal
//     instants collapse. Seq is the rank of the event in time order.
//   - repeat.timeOfDay: a dose at each listed wall time (hh:mm:ss or hh:mm)
//     on every dosing day. 08:00 stays 08:00 local across daylight saving.
//   - repeat.when (+ offset): a dose at each event time below, offset minutes
//     after it, or before it for AC, ACM, ACD, ACV and HS (whose FHIR
//     definitions say "before"). Times that coincide collapse. FHIR tim-9
//     forbids an offset with C, CM, CD and CV. A time pushed past midnight
//     by the offset wraps around to the same calendar day.
//   - repeat.frequency per period with periodUnit d, wk, mo or a and no
//     clock times ("BID"): the default-times policy below.
//   - repeat.frequency per period with periodUnit h, min or s ("q8h"): an
//     elapsed interval of period/frequency, counted from the schedule start
//     instant and ignoring daylight saving (consecutive doses are exactly
//     8 h apart in UTC, so wall times shift by an hour across a change).
//     The interval is rounded to whole seconds.
//
// Event times for repeat.when (minutes relative to the patient's anchors;
// defaults in brackets):
//
//	WAKE, MORN.early   wake                     [07:00]
//	MORN               breakfast                [07:30]
//	MORN.late          breakfast + 2 h          [09:30]
//	C, AC, PC          breakfast, lunch, dinner [07:30, 12:00, 18:00]
//	CM, ACM, PCM       breakfast                [07:30]
//	CD, ACD, PCD       lunch                    [12:00]
//	CV, ACV, PCV       dinner                   [18:00]
//	IC                 midway between breakfast and lunch, lunch and
//	                   dinner, dinner and bed   [09:45, 15:00, 20:00]
//	ICM, ICD, ICV      one of those three
//	NOON               lunch                    [12:00]
//	AFT.early          lunch + 1 h              [13:00]
//	AFT                lunch + 3 h              [15:00]
//	AFT.late           lunch + 5 h              [17:00]
//	EVE.early          dinner                   [18:00]
//	EVE                dinner + 1 h             [19:00]
//	EVE.late           dinner + 3 h             [21:00]
//	HS, NIGHT, PHS     bed                      [22:00]
//
// Default-times policy, for n doses on a dosing day without timeOfDay or
// when:
//
//	n = 1  breakfast                                [07:30]
//	n = 2  breakfast, dinner                        [07:30, 18:00]
//	n = 3  breakfast, lunch, dinner                 [07:30, 12:00, 18:00]
//	n = 4  breakfast, lunch, dinner, bed            [07:30, 12:00, 18:00, 22:00]
//	n ≥ 5  evenly from wake to bed, both included, to the nearest minute
//	       (24 h from wake when wake equals bed)
//
// Dosing days. Calendar schedules (everything but elapsed intervals and
// events) put their daily times on dosing days:
//
//   - No period, or period 1 d: every day; frequency is the number of doses
//     a day.
//   - dayOfWeek: only the listed weekdays. With a period of whole weeks
//     (e.g. 2 wk) the weekdays of the first week of each cycle, cycles
//     counted from the Monday of the start week. dayOfWeek cannot be combined
//     with other multi-day periods or with mo and a.
//   - Period of P > 1 days (d or wk): cycles of P days counted from the start
//     date. With timeOfDay or when, the first day of each cycle is the dosing
//     day ("every 2 days at 08:00"). Without clock times, frequency f ≤ P
//     spreads f dosing days evenly over the cycle (day ⌊i·P/f⌋, so 3 per
//     week from a Monday is Monday, Wednesday, Friday) with one dose each;
//     f a multiple of P means f/P doses every day.
//   - mo and a: the start date's day of the month every period months
//     (years), clamped to the end of shorter months; frequency must be 1
//     without clock times.
//
// Periods for d, wk, mo and a must be whole numbers. frequency counts doses
// per period and, when timeOfDay or when give the clock times, must equal
// (dosing days per period) × (clock times per day) or be omitted. A period
// without frequency means once per period (FHIR default).
//
// Bounds, count and Seq. The schedule starts at repeat.boundsPeriod.start, or
// Params.Start when that is absent (truncated to the second), and ends at
// boundsPeriod.end inclusive. A date-only bound is a date in the patient's
// zone: a start is local midnight, an end the end of that local day; a
// dateTime without offset is a local wall time. A dateTime (bound or
// event) is read strictly as RFC 3339: Z or an offset of at most ±23:59,
// a fraction after a point only, two-digit hours. A bound in the year 1
// (or 0) is refused: 0001-01-01 is no real date, and 0001-01-01T00:00:00Z,
// Go's zero time, would read as no bound in one zone and as a bound in
// another. boundsDuration and boundsRange, FHIR's other choices of
// repeat.bounds[x], are refused as not supported: give boundsPeriod. Doses
// are numbered 1, 2, 3… (Seq) from the schedule start, so the same dose has
// the same Seq in every window; repeat.count keeps doses with Seq ≤ count.
// For calendar schedules Seq follows the order of wall times;
// dayOfWeek-filtered doses of an elapsed interval are not counted.
//
// Daylight saving. A wall time that does not exist (the spring-forward gap,
// e.g. 02:30 on 2026-03-08 in America/New_York) moves forward by the length
// of the gap (03:30 EDT); its Local string keeps the requested wall time. A
// wall time that occurs twice (fall back, 01:30 on 2026-11-01) is due once,
// at its first occurrence (01:30 EDT). Go's time.Date does not guarantee
// either (it gives 01:30 EST for the New York gap and the second occurrence
// for Europe/London), so the package resolves wall times itself. If a moved
// dose lands on the instant of another dose of the same schedule, only the
// one with the lower Seq is kept.
//
// Not used for scheduling but accepted and preserved: code, frequencyMax,
// periodMax, countMax, duration, durationMax, durationUnit, the id and
// extension of the Timing and of its elements, and a coding's version and
// userSelected. A modifierExtension is refused as an unknown field. asNeeded (PRN)
// schedules produce no doses. A schedule producing more than 48 doses a day
// is rejected as implausible. Expand refuses windows longer than 400 days,
// and dayOfWeek-filtered elapsed intervals that started more than 100 years
// before the window (their Seq needs a day-by-day count).
package schedule
