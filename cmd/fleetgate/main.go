// Command fleetgate runs database migrations safely from every instance of
// a fleet at once. See the README and docs/.
package main

import (
	"context"
	"os"

	"github.com/fleetgate/fleetgate/internal/cli"
)

func main() {
	ctx, stop := cli.SignalContext(context.Background())
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
