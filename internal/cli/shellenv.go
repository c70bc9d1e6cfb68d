package cli

import (
	"fmt"
	"strings"
	"time"
)

// Shell formats of `idbroker env`.
var ShellFormats = []string{"sh", "fish", "powershell"}

// EnvVar is one environment variable.
type EnvVar struct{ Name, Value string }

// CredentialEnv is the environment of the AWS CLI and SDKs for creds:
// the keys, their expiry and the region (when set).
func CredentialEnv(c *Credentials, region string) []EnvVar {
	vars := []EnvVar{
		{"AWS_ACCESS_KEY_ID", c.AccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", c.SecretAccessKey},
		{"AWS_SESSION_TOKEN", c.SessionToken},
		{"AWS_CREDENTIAL_EXPIRATION", c.Expiration.UTC().Format(time.RFC3339)},
	}
	if region != "" {
		vars = append(vars, EnvVar{"AWS_REGION", region}, EnvVar{"AWS_DEFAULT_REGION", region})
	}
	return vars
}

// FormatEnv writes vars as statements of shell format (sh, fish,
// powershell), each value quoted so that the shell takes it literally.
func FormatEnv(format string, vars []EnvVar) (string, error) {
	if err := CheckShellFormat(format); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, v := range vars {
		switch format {
		case "sh", "bash", "zsh":
			// In single quotes nothing is special; a quote is closed,
			// escaped and reopened.
			fmt.Fprintf(&b, "export %s='%s'\n", v.Name, strings.ReplaceAll(v.Value, "'", `'\''`))
		case "fish":
			// fish's single quotes take \\ and \' as escapes.
			fmt.Fprintf(&b, "set -gx %s '%s';\n", v.Name, strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v.Value))
		case "powershell", "pwsh":
			// PowerShell's single-quoted strings double a quote.
			fmt.Fprintf(&b, "$Env:%s = '%s'\n", v.Name, strings.ReplaceAll(v.Value, "'", "''"))
		}
	}
	return b.String(), nil
}

// CheckShellFormat accepts the formats of FormatEnv (and bash, zsh and
// pwsh as their other names).
func CheckShellFormat(format string) error {
	switch format {
	case "sh", "bash", "zsh", "fish", "powershell", "pwsh":
		return nil
	}
	return fmt.Errorf("--format %q: use one of %s", format, strings.Join(ShellFormats, ", "))
}
