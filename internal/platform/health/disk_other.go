//go:build !linux

package health

import "errors"

// diskSpace is only implemented on Linux, where the products run.
func diskSpace(string) (free, total uint64, err error) {
	return 0, 0, errors.New("disk space check is only supported on linux")
}
