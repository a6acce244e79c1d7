// Command unixdial connects to each unix socket named on its command line,
// asks it for GET /_ping and prints what answers, or why it could not.
// Built into the offline test image to check that containers cannot
// reach the host's sockets through a shared folder.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	for _, path := range os.Args[1:] {
		c, err := net.DialTimeout("unix", path, 3*time.Second)
		if err != nil {
			fmt.Printf("%s: %v\n", path, err)
			continue
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(c, "GET /_ping HTTP/1.0\r\n\r\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		fmt.Printf("%s: connected, answer %q %v\n", path, line, err)
	}
}
