module github.com/jangada-io/jangada/transport-quic

go 1.26
