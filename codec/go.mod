module github.com/jangada-io/jangada/codec

go 1.26
