package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/apps/kvstore/app"
	"github.com/jangada-io/jangada/apps/kvstore/app/serveflags"
)

// Flags for secrets, TLS and authentication of the client commands (the
// serve command's are serveflags').

func addClientSecurityFlags(f *pflag.FlagSet) {
	f.String("token-file", "", "file holding a bearer token of the API (mode 0600)")
	f.String("tls-ca", "", "PEM CA certificates that sign the nodes' HTTPS certificates (default: the system's); endpoints without a scheme then use https")
	f.String("tls-cert", "", "PEM client certificate, for an API that accepts client certificates")
	f.String("tls-key", "", "PEM private key of --tls-cert (mode 0600)")
}

// clientConfig returns the client configuration of the client flags.
func clientConfig(cmd *cobra.Command) (kvstore.ClientConfig, error) {
	f := cmd.Flags()
	endpoints, _ := f.GetString("endpoints")
	cfg := kvstore.ClientConfig{Endpoints: strings.Split(endpoints, ",")}
	if path, _ := f.GetString("token-file"); path != "" {
		token, err := serveflags.ReadSecretFile(path)
		if err != nil {
			return cfg, fmt.Errorf("token: %w", err)
		}
		cfg.Token = token
	}
	caPath, _ := f.GetString("tls-ca")
	certPath, _ := f.GetString("tls-cert")
	keyPath, _ := f.GetString("tls-key")
	if caPath == "" && certPath == "" && keyPath == "" {
		return cfg, nil
	}
	cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	if caPath != "" {
		pem, err := os.ReadFile(caPath)
		if err != nil {
			return cfg, fmt.Errorf("TLS CA: %w", err)
		}
		cfg.TLS.RootCAs = x509.NewCertPool()
		if !cfg.TLS.RootCAs.AppendCertsFromPEM(pem) {
			return cfg, fmt.Errorf("TLS CA %s holds no PEM certificate", caPath)
		}
	}
	if (certPath == "") != (keyPath == "") {
		return cfg, errors.New("--tls-cert and --tls-key go together")
	}
	if certPath != "" {
		keyPEM, err := app.ReadPrivateFile(keyPath)
		if err != nil {
			return cfg, fmt.Errorf("TLS key: %w", err)
		}
		certPEM, err := os.ReadFile(certPath)
		if err != nil {
			return cfg, fmt.Errorf("TLS certificate: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return cfg, fmt.Errorf("TLS certificate %s and key %s: %w", certPath, keyPath, err)
		}
		cfg.TLS.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
