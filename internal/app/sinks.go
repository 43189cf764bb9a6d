package app

import (
	"github.com/nodewatch/nodewatch/internal/config"
	"github.com/nodewatch/nodewatch/internal/notify/outbox"
)

// extraSinks builds the generic webhook and Alertmanager sinks.
func extraSinks(cfg config.Config) ([]outbox.Sink, error) {
	return nil, nil
}
