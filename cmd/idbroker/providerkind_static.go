package main

import (
	"reflect"

	"github.com/idbroker/idbroker/providers/static"
)

func staticKind() providerKind {
	return providerKind{
		settings: reflect.TypeOf(static.Config{}),
		validate: func(s any) []error { return s.(*static.Config).Validate() },
		build: func(_ buildEnv, p providerConfig) (any, error) {
			c, err := settingsAs[static.Config](p)
			if err != nil {
				return nil, err
			}
			return static.New(p.Name, *c)
		},
	}
}
