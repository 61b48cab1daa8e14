/* The container's network namespace (--net --network none). */
#ifndef STARTER_NET_H
#define STARTER_NET_H

void net_loopback_up(void);

#endif
