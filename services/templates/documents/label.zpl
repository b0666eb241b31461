^XA
^CI28
^PW{{ width }}
^LL{{ length }}
^LH0,0
^FO40,30^A0N,28,28^FH^FDFROM: {{ from_name }}^FS
^FO40,64^A0N,24,24^FH^FD{{ from_address }}^FS
^FO30,100^GB752,3,3^FS
^FO40,118^A0N,30,30^FH^FDSHIP TO:^FS
{% for line in to %}
^FO70,{{ 160 + loop.index0 * 52 }}^A0N,44,44^FH^FD{{ line }}^FS
{% endfor %}
{% if phone %}
^FO70,{{ 160 + (to | length) * 52 }}^A0N,30,30^FH^FDTEL {{ phone }}^FS
{% endif %}
^FO30,520^GB752,3,3^FS
^FO40,545^A0N,50,50^FH^FDORDER #{{ number }}^FS
{% if package %}
^FO520,552^A0N,40,40^FH^FDBOX {{ package }}^FS
{% endif %}
^FO40,608^A0N,34,34^FH^FD{{ carrier }}{% if expected %}   EXPECTED {{ expected }}{% endif %}^FS
^FO30,660^GB752,3,3^FS
^FO40,680^A0N,28,28^FH^FDTRACKING^FS
^BY{{ module }},3,200
^FO40,720^BCN,200,Y,N,N,A^FH^FD{{ tracking }}^FS
^FO30,1000^GB752,3,3^FS
^BY2,3,100
^FO40,1030^BCN,100,Y,N,N,A^FH^FD{{ order_code }}^FS
^XZ
