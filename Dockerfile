# fleetgate as a container image: a static binary FROM scratch, with the CA
# certificates that TLS connections to a database (sslmode=verify-full)
# need, and nothing else. e2e/newcomer_test.go runs the same binary in a
# root directory holding only these files.
#
#   docker build --build-arg VERSION="$(git describe --always --dirty)" -t fleetgate .
#   docker run --rm -v "$PWD/migrations:/migrations:ro" -e DATABASE_URL fleetgate up --dir /migrations
#
# In an application's image, copy the binary next to the application:
#   COPY --from=fleetgate /fleetgate /usr/local/bin/fleetgate
#   ENTRYPOINT ["fleetgate", "run", "--", "/app/server"]

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# VERSION is recorded in every history row; without it the build says
# "dev". VCS stamping is off because .git is not sent to the builder.
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
	-ldflags "-s -w -X github.com/fleetgate/fleetgate.Version=${VERSION}" \
	-o /out/fleetgate ./cmd/fleetgate

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/fleetgate /fleetgate
# No user database in scratch: a numeric nobody. A SQLite file needs a
# volume this user can write.
USER 65534:65534
ENTRYPOINT ["/fleetgate"]
CMD ["help"]
