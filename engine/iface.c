/* placeholder */ typedef int placeholder_iface;
