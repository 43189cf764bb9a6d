# nodewatch as a container image (not built in CI: these machines have no
# container engine). docker build -t nodewatch:latest .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /nodewatch ./cmd/nodewatch

FROM gcr.io/distroless/static:nonroot
COPY --from=build /nodewatch /nodewatch
USER 65532:65532
ENTRYPOINT ["/nodewatch"]
