# Build: docker build -f deploy/docker/medsales.Dockerfile -t medsales .
# A static binary on a distroless base: no shell, so the health check calls
# the binary's own `healthcheck` subcommand.
# This is the production shape: set DATABASE_URL=postgres://… (the image has
# no writable ./data for the embedded SQLite default), and run a second
# task of the image with the command `worker`, since the API tasks here run
# no job workers (--workers=false): the worker runs the loads queued with
# POST /v1/ingestions and those of INGEST_SCHEDULE. A one-off load is a
# task with the command `ingest DATASET s3://…`. For the worker and a
# one-off load, REJECTS_DIR must name a writable directory (a mounted
# volume): without one they fail at start, naming REJECTS_DIR.
# .dockerignore keeps ./data (local databases) out of the build context.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/medsales ./cmd/medsales

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/medsales /medsales
USER nonroot:nonroot
# The base image's working directory, /home/nonroot, is writable by nonroot:
# there a task without DATABASE_URL would create ./data/medsales.db on the
# container's disk and serve from it. / is not writable, so it fails.
WORKDIR /
EXPOSE 8081
ENV LISTEN_ADDR=:8081
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["/medsales", "healthcheck"]
ENTRYPOINT ["/medsales"]
CMD ["serve", "--workers=false"]
