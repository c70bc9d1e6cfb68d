// Package configs holds example configuration files. The demo configuration
// is embedded into the idbroker binary so that `idbroker serve` runs with no
// file at all.
package configs

import _ "embed"

// Demo is configs/demo.yaml.
//
//go:embed demo.yaml
var Demo []byte
