package api

import (
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// routes is the one list of every route the adherence API serves. Who may
// call what is decided in the handlers (see authz.go) and documented in
// docs/api.md.
func (s *server) routes(mux *httpx.Mux) {
	mux.Handle("GET /livez", s.Health.LivezHandler())
	mux.Handle("GET /readyz", s.Health.ReadyzHandler())
	mux.Handle("GET /health", s.Health.HealthHandler())
	mux.Handle("GET /metrics", telemetry.MetricsHandler(s.Registry))

	mux.Handle("GET /v1/me", s.authed(s.handleMe))

	mux.Handle("POST /v1/api-keys", s.authed(s.handleCreateAPIKey))
	mux.HandleQuery("GET /v1/api-keys", s.authed(s.handleListAPIKeys), "limit", "after")
	mux.Handle("DELETE /v1/api-keys/{id}", s.authed(s.handleRevokeAPIKey))

	mux.Handle("POST /v1/members", s.authed(s.handleCreateMember))
	mux.HandleQuery("GET /v1/members", s.authed(s.handleListMembers), "limit", "after")
	mux.Handle("GET /v1/members/{id}", s.authed(s.handleGetMember))
	mux.Handle("PATCH /v1/members/{id}", s.authed(s.handleUpdateMember))
	mux.Handle("POST /v1/members/{id}/deactivate", s.authed(s.handleSetMemberActive(false)))
	mux.Handle("POST /v1/members/{id}/reactivate", s.authed(s.handleSetMemberActive(true)))

	mux.Handle("POST /v1/patients", s.authed(s.handleCreatePatient))
	mux.HandleQuery("GET /v1/patients", s.authed(s.handleListPatients), "limit", "after", "inactive")
	mux.Handle("GET /v1/patients/{id}", s.authed(s.handleGetPatient))
	mux.Handle("PATCH /v1/patients/{id}", s.authed(s.handleUpdatePatient))
	mux.Handle("POST /v1/patients/{id}/deactivate", s.authed(s.handleSetPatientActive(false)))
	mux.Handle("POST /v1/patients/{id}/reactivate", s.authed(s.handleSetPatientActive(true)))
	mux.Handle("GET /v1/patients/{id}/links", s.authed(s.handleListLinks))
	mux.Handle("PUT /v1/patients/{id}/links/{memberId}", s.authed(s.handleLink))
	mux.Handle("DELETE /v1/patients/{id}/links/{memberId}", s.authed(s.handleUnlink))
	mux.Handle("POST /v1/patients/{id}/plans", s.authed(s.handleCreatePlan))
	mux.Handle("GET /v1/patients/{id}/plans", s.authed(s.handleListPlans))
	mux.HandleQuery("GET /v1/patients/{id}/doses", s.authed(s.handleListPatientDoses), "from", "to", "limit")

	mux.HandleQuery("GET /v1/plans/{id}", s.authed(s.handleGetPlan), "include", "from", "to", "limit")
	mux.Handle("PATCH /v1/plans/{id}", s.authed(s.handleUpdatePlan))
	mux.Handle("POST /v1/plans/{id}/pause", s.authed(s.handleSetPlanStatus("paused")))
	mux.Handle("POST /v1/plans/{id}/resume", s.authed(s.handleSetPlanStatus("active")))
	mux.Handle("POST /v1/plans/{id}/stop", s.authed(s.handleSetPlanStatus("stopped")))
	mux.Handle("POST /v1/plans/{id}/fills", s.authed(s.handleAddFill))
	mux.Handle("GET /v1/plans/{id}/fills", s.authed(s.handleListFills))
	mux.HandleQuery("GET /v1/plans/{id}/doses", s.authed(s.handleListPlanDoses), "from", "to", "limit")

	mux.Handle("POST /fhir/MedicationRequest", s.authed(s.handleFHIRImport))
	mux.Handle("GET /fhir/MedicationRequest", s.authed(s.handleFHIRSearch))
	mux.Handle("GET /fhir/MedicationRequest/{id}", s.authed(s.handleFHIRRead))

	mux.Handle("POST /v1/events", s.authed(s.handleRecordEvent))
	mux.Handle("POST /v1/events:batch", s.authed(s.handleRecordBatch))
	mux.HandleQuery("GET /v1/patients/{id}/events", s.authed(s.handleListEvents), "from", "to", "limit", "after")

	mux.HandleQuery("GET /v1/patients/{id}/adherence", s.authed(s.handlePatientAdherence), "from", "to")
	mux.HandleQuery("GET /v1/plans/{id}/adherence", s.authed(s.handlePlanAdherence), "from", "to")
	mux.HandleQuery("GET /v1/reports/adherence", s.authed(s.handleCohortAdherence), "from", "to", "threshold", "limit")
	mux.HandleQuery("GET /v1/patients/{id}/pdc", s.authed(s.handlePatientPDC), "from", "to", "class")
	mux.Handle("GET /fhir/MedicationAdministration", s.authed(s.handleFHIRAdministrations))
	mux.Handle("GET /fhir/MedicationAdministration/{id}", s.authed(s.handleFHIRAdministrationRead))

	mux.Handle("GET /v1/settings/windows", s.authed(s.handleGetWindows))
	mux.Handle("PUT /v1/settings/windows", s.authed(s.handleSetWindows))
	mux.HandleQuery("GET /v1/outbox", s.authed(s.handleListOutbox), "topic", "pending", "after", "limit")

	mux.HandleQuery("GET /v1/audit", s.authed(s.handleListAudit), "patient", "actor", "from", "to", "limit", "after")

	s.notificationRoutes(mux)
	s.messagingRoutes(mux)
	s.escalationRoutes(mux)
}
