; a small signature file in p0f's format, every syntax once
classes = win,unix,other

[mtu]
label = Ethernet or modem
sig   = 1500
label = DSL
sig   = 1492

[tcp:request]
label = s:unix:Linux:3.11 and newer
sig   = *:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0
sig   = 4:64+2:0:1460:mtu*4,7:mss,sok,ts,nop,ws:df,id+:0
label = g:unix:Linux:
sig   = *:64:0:*:*,*:mss,sok,ts,nop,ws:df,id+:0
label = s:win:Windows:7 or 8
sig   = *:128:0:*:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0
label = s:unix:Odd:
sig   = 6:255-:0:*:%512,*:?30,sack,eol+3:ecn,flow,seq-,ack+,ack-,uptr+,urgf+,pushf+,ts1-,ts2+,opt+,exws,bad:*
sig   = 4:255:4:1:1,255:eol+0:0+,id-:+
label = s:!:nmap:SYN scan
sys   = @unix,Windows
sig   = *:64-:0:1460:1024,0:mss::0

[tcp:response]
label = s:unix:Linux:3.x
sig   = *:64:0:*:mss*10,0:mss:df:0

[http:request]
ua_os = Linux,Windows
label = s:!:wget:
sys   = Linux
sig   = *:Host,User-Agent:Accept:Wget/
