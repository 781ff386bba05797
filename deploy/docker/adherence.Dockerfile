# Build: docker build -f deploy/docker/adherence.Dockerfile -t adherence .
# A static binary on a distroless base: no shell, so the health check calls
# the binary's own `healthcheck` subcommand.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/adherence ./cmd/adherence

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/adherence /adherence
USER nonroot:nonroot
EXPOSE 8080
ENV LISTEN_ADDR=:8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["/adherence", "healthcheck"]
ENTRYPOINT ["/adherence"]
CMD ["serve", "--workers=false"]
