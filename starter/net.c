/* `--net --network none`: a new network namespace with only the loopback
 * interface, up. Allowed to every user (as in Apptainer): it takes network
 * access away and gives nothing. */
#include "net.h"

#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"

/* Called inside the new network namespace, with CAP_NET_ADMIN over it
 * (root in setuid mode, the namespace's owner in user-namespace mode). */
void net_loopback_up(void)
{
        struct ifreq ifr;
        _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        memset(&ifr, 0, sizeof(ifr));
        strcpy(ifr.ifr_name, "lo");
        if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
                die_errno("reading the loopback interface of the new network namespace");
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
                die_errno("bringing up the loopback interface of the new network namespace");
}
