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
)

// Flags for secrets, TLS and authentication: the serve command's in
// addSecurityServeFlags, the client commands' in addClientSecurityFlags.

func addSecurityServeFlags(f *pflag.FlagSet) {
	f.String("cluster-secret-file", "", "file holding the cluster secret (mode 0600); preferred to --cluster-secret, which other users see in ps (env KVSTORE_CLUSTER_SECRET also works)")
	f.StringArray("cluster-secret-accepted-file", nil, "file (mode 0600) of a further cluster secret this node accepts but does not present, to rotate the secret with rolling restarts (repeatable; see SECURITY.md)")
	f.String("http-tls-cert", "", "PEM certificate (chain) of the HTTP API; with --http-tls-key the API speaks HTTPS")
	f.String("http-tls-key", "", "PEM private key of the HTTP API (mode 0600)")
	f.String("http-tokens-file", "", "bearer tokens of the HTTP API, one \"read|readwrite TOKEN\" line each (mode 0600); the API then requires a token or client certificate")
	f.String("http-client-ca", "", "PEM CA certificates of HTTP clients: a verified client certificate gets the readwrite scope (needs --http-tls-cert)")
}

// applySecurityServeFlags sets cfg's secret and HTTP security from the serve
// flags. cfg.Logger must be set: a secret given on the command line is
// warned about there.
func applySecurityServeFlags(cmd *cobra.Command, cfg *app.Config) error {
	f := cmd.Flags()
	cfg.HTTPTLSCert, _ = f.GetString("http-tls-cert")
	cfg.HTTPTLSKey, _ = f.GetString("http-tls-key")
	cfg.HTTPTokensFile, _ = f.GetString("http-tokens-file")
	cfg.HTTPClientCA, _ = f.GetString("http-client-ca")
	secretFile, _ := f.GetString("cluster-secret-file")
	if secretFile != "" {
		if cfg.ClusterSecret != "" {
			return errors.New("both --cluster-secret and --cluster-secret-file are set; keep the file")
		}
		secret, err := readSecretFile(secretFile)
		if err != nil {
			return fmt.Errorf("cluster secret: %w", err)
		}
		cfg.ClusterSecret = secret
	}
	accepted, _ := f.GetStringArray("cluster-secret-accepted-file")
	for _, path := range accepted {
		secret, err := readSecretFile(path)
		if err != nil {
			return fmt.Errorf("accepted cluster secret: %w", err)
		}
		cfg.AcceptedClusterSecrets = append(cfg.AcceptedClusterSecrets, secret)
	}
	if len(cfg.AcceptedClusterSecrets) > 0 && cfg.ClusterSecret == "" {
		return errors.New("--cluster-secret-accepted-file needs a cluster secret")
	}
	if f.Changed("cluster-secret") {
		cfg.Logger.Warn("--cluster-secret on the command line is visible to every user of this machine (ps, /proc); " +
			"use --cluster-secret-file FILE (mode 0600) or the KVSTORE_CLUSTER_SECRET environment variable")
	}
	return nil
}

// readSecretFile returns the first line of a private file, trimmed.
func readSecretFile(path string) (string, error) {
	data, err := app.ReadPrivateFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return line, nil
}

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
		token, err := readSecretFile(path)
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
