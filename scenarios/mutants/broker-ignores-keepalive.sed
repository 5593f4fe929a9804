# file: fakebroker/broker.c
# defect: the broker never ends a connection whose client went silent for one and a half keep-alive periods
s/			if (now >= due) {$/			if (0 \&\& now >= due) {/
