classes = unix
[tcp:request]
label = s:unix:A:
sig = 4:64:0:*:mss*10,7:mss:df:0
sig = 4:64:0:*:mss*10,7:mss:df:0
