# Build: docker build -f deploy/docker/adherence.Dockerfile -t adherence .
# A static binary on a distroless base: no shell, so the health check calls
# the binary's own `healthcheck` subcommand.
# This is the production shape: set DATABASE_URL=postgres://… (the image has
# no writable ./data for the embedded SQLite default, so serve fails naming
# DATABASE_URL), and run a second task of the image with the command
# `worker`, since the API tasks here run no job workers (--workers=false):
# without one, no reminder, missed-dose mark or escalation ever happens.
# .dockerignore keeps ./data (local databases, PHI) out of the build context.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/adherence ./cmd/adherence

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/adherence /adherence
USER nonroot:nonroot
# The base image's working directory, /home/nonroot, is writable by nonroot:
# there a task without DATABASE_URL would create ./data/adherence.db on the
# container's disk and serve from it. / is not writable, so it fails.
WORKDIR /
EXPOSE 8080
ENV LISTEN_ADDR=:8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["/adherence", "healthcheck"]
ENTRYPOINT ["/adherence"]
CMD ["serve", "--workers=false"]
